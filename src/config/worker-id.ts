/**
 * What a worker id may be (WORKER_ID, the `worker` label of the metrics, the key of a worker's
 * telemetry record): 1-128 letters, digits, `_`, `.`, `:` or `-` — a safe Prometheus label value
 * and Redis key part. Declared once here, for the config, the workers, the sampler that reads their
 * records back from Redis and the local autoscaler that names its workers.
 */
export const WORKER_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * `text` (a host name) with each run of characters that {@link WORKER_ID_PATTERN} does not allow
 * replaced by `-`; the length is left to the caller.
 */
export function toWorkerIdCharacters(text: string): string {
  return text.replace(/[^A-Za-z0-9_.:-]+/g, '-');
}
