import type { QueueSnapshot } from '../queue/queue-snapshot.js';
import type { QueueRates } from './queue-rates.js';
import { DEFAULT_TARGET, isActive, scalingValue, type ScalingMode } from './scaling-decision.js';
import { sizeWorkers, type SizingObjective } from './worker-sizing.js';

/** A worker count with the reason for it, in words and numbers (it is logged as is). */
export interface ScaleDecision {
  desired: number;
  reason: string;
}

/** A past recommendation, kept for the scale-down stabilization window. */
export interface Recommendation {
  /** Epoch ms. */
  at: number;
  desired: number;
}

export interface AutoscalePolicyInput {
  mode: ScalingMode;
  /** Target per worker. @defaultValue `DEFAULT_TARGET[mode]` (backlog 10, latency 10 s, workers 1) */
  target?: number;
  minWorkers: number;
  maxWorkers: number;
  /** Workers running now (not counting those already stopping). */
  current: number;
  snapshot: QueueSnapshot;
  rates: QueueRates;
  /** `workers` mode: the wait objective and what the sizing may assume. */
  sizing: SizingObjective;
  /** The queue is active (may run 0 workers only when not) while backlog + active is above this. @defaultValue 0 */
  activationValue?: number;
}

/** `12.3456` → `12.35`, `3` → `3`. */
function num(value: number): string {
  return String(Number(value.toFixed(2)));
}

/** `1 worker`, `3 workers`. */
function workers(n: number): string {
  return `${n} worker${n === 1 ? '' : 's'}`;
}

/** ceil, with float noise rounded away first: 2.0000000001 is 2, not 3. */
function ceil(value: number): number {
  return Math.ceil(Number(value.toFixed(9)));
}

function validate(input: AutoscalePolicyInput, target: number): void {
  const wholeAtLeast = (name: string, value: number, min: number) => {
    if (!Number.isInteger(value) || value < min) {
      throw new RangeError(`${name} must be a whole number ≥ ${min}, got ${value}`);
    }
  };
  wholeAtLeast('minWorkers', input.minWorkers, 0);
  wholeAtLeast('maxWorkers', input.maxWorkers, 1);
  wholeAtLeast('current', input.current, 0);
  if (input.minWorkers > input.maxWorkers) {
    throw new RangeError(
      `minWorkers (${input.minWorkers}) must not be above maxWorkers (${input.maxWorkers})`,
    );
  }
  if (!(target > 0) || !Number.isFinite(target)) {
    throw new RangeError(`target must be a number > 0, got ${target}`);
  }
}

/**
 * The workers a queue needs now, computed as KEDA and the HPA would from the same metric:
 * - `backlog` (AverageValue): ceil(value / target), the value counting running jobs too, so running
 *   jobs keep their workers;
 * - `latency` (Value): ceil(current × value / target), at least 1 while there is work;
 * - `workers`: the value itself (the fewest workers that keep the wait objective, see
 *   {@link sizeWorkers}, never below the busy workers).
 *
 * The result is clamped to [minWorkers, maxWorkers]; it is 0 only when minWorkers is 0 and the queue
 * is not active (no backlog and no running job above `activationValue`), like KEDA's 0 ↔ 1 step.
 */
export function recommendWorkers(input: AutoscalePolicyInput): ScaleDecision {
  const target = input.target ?? DEFAULT_TARGET[input.mode];
  validate(input, target);
  const { mode, minWorkers, maxWorkers, current, snapshot } = input;
  const activation = input.activationValue ?? 0;
  const active = isActive(snapshot, activation);
  if (!active && minWorkers === 0) {
    const above = activation > 0 ? ` above activation ${num(activation)}` : '';
    return {
      desired: 0,
      reason: `no work${above} (backlog ${snapshot.backlog}, active ${snapshot.counts.active}) → 0 workers (min 0)`,
    };
  }
  const sizing = mode === 'workers' ? sizeWorkers(snapshot, input.rates, input.sizing) : undefined;
  const value =
    sizing?.workers ??
    scalingValue(snapshot, input.rates, { ...input.sizing, mode, includeActive: true });
  let raw: number;
  let formula: string;
  switch (mode) {
    case 'backlog':
      raw = ceil(value / target);
      formula = `backlog ${num(value)} / target ${num(target)}`;
      break;
    case 'latency':
      raw = ceil((current * value) / target);
      if (active) raw = Math.max(1, raw);
      formula = `latency ${num(value)} s × ${workers(current)} / target ${num(target)} s`;
      break;
    case 'workers':
      raw = ceil(value / target);
      formula =
        target === 1 ? sizing!.reason : `workers needed ${num(value)} / target ${num(target)}`;
      break;
  }
  let desired = Math.min(maxWorkers, Math.max(minWorkers, raw));
  let bound = '';
  if (raw > maxWorkers) bound = ` (max ${maxWorkers})`;
  else if (raw < minWorkers) bound = ` (min ${minWorkers})`;
  if (desired === 0 && active) {
    desired = 1;
    bound = ' (at least 1 while there is work)';
  }
  // The sizing's reason already ends in its worker count.
  const result = target === 1 && sizing ? formula : `${formula} → ${workers(raw)}`;
  return { desired, reason: `${result}${bound}` };
}

/**
 * HPA's stabilization with a scale-up window of 0 and a scale-down window of `windowMs`: a higher
 * recommendation applies at once; a lower one only down to the highest recommendation seen within
 * the window (so a dip shorter than the window does not stop workers). Pure: returns the decision
 * and the history to keep (the new recommendation included, entries older than the window dropped).
 */
export function stabilize(
  history: readonly Recommendation[],
  now: number,
  windowMs: number,
  raw: ScaleDecision,
  current: number,
): ScaleDecision & { history: Recommendation[] } {
  const kept = history.filter((r) => r.at > now - windowMs && r.at <= now);
  const next = [...kept, { at: now, desired: raw.desired }];
  if (raw.desired >= current) return { ...raw, history: next };
  const highest = Math.max(raw.desired, ...kept.map((r) => r.desired));
  if (highest === raw.desired) return { ...raw, history: next };
  const desired = Math.min(current, highest);
  return {
    desired,
    reason: `${raw.reason}; held at ${desired} (highest recommendation in the last ${num(windowMs / 1000)} s: ${highest})`,
    history: next,
  };
}
