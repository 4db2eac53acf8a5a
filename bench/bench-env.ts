/** Small helpers every benchmark may use; nothing here starts a server or imports test code. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A benchmark option from the environment: a whole number ≥ 1, or `fallback` when unset. */
export function envPositiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a whole number ≥ 1, got ${JSON.stringify(raw)}`);
  }
  return value;
}
