import { status } from '@grpc/grpc-js';
import {
  DEFAULT_TARGET,
  SCALING_MODES,
  type ScalingMode,
  type ScalingOptions,
} from '../scaling/scaling-decision.js';
import type { SizingObjective } from '../scaling/worker-sizing.js';
import { ScalerError, shown } from './scaler-error.js';
import { formatQueueAddress, namesItsKind, parseQueueEntry } from '../kinds/queue-addresses.js';
import { isQueuePattern, type QueueAddress, type QueuePattern } from '../kinds/queue-kind.js';

/** A ScaledObject trigger's `metadata`, validated. */
export interface TriggerSpec extends ScalingOptions {
  /** The queue's name, or the pattern as the trigger wrote it. */
  queue: string;
  prefix: string;
  /** Set when `queue` is a pattern: the answer is the sum over the served queues it matches. */
  pattern?: QueuePattern;
  targetValue: number;
  activationValue: number;
}

/** What the scaler serves: only these queues (and those its patterns find). */
export interface ServedQueues {
  /**
   * The queues served, as QUEUES entries or addresses; a function when discovery changes them.
   */
  queues: readonly (string | QueueAddress)[] | (() => readonly QueueAddress[]);
  /** QUEUE_PREFIX: the prefix of a plain queue name. */
  prefix: string;
  /** QUEUES' patterns, whose kind and prefix a pattern trigger may name. */
  patterns?: readonly QueuePattern[];
}

function servedAddresses(served: ServedQueues): QueueAddress[] {
  const queues = typeof served.queues === 'function' ? served.queues() : served.queues;
  return queues.flatMap((q) => {
    if (typeof q !== 'string') return [q];
    const parsed = parseQueueEntry(q, served.prefix);
    return typeof parsed === 'string' || isQueuePattern(parsed) ? [] : [parsed];
  });
}

function describeServed(served: ServedQueues): string {
  return [
    ...servedAddresses(served).map(formatQueueAddress),
    ...(served.patterns ?? []).map((p) =>
      formatQueueAddress({ kind: p.kind, prefix: p.prefix, name: p.pattern }),
    ),
  ].join(', ');
}

/**
 * The served queue (or pattern) a trigger's `queue` names: a name, or an address
 * `<kind>:…` as in QUEUES; undefined when the scaler does not serve it.
 */
function servedSelector(
  raw: string,
  prefixGiven: string | undefined,
  served: ServedQueues,
):
  | { queue: string; prefix: string; pattern?: QueuePattern }
  | { queue: string; prefix: string; missing: true } {
  const addresses = servedAddresses(served);
  const kindGiven = namesItsKind(raw);
  const selector = parseQueueEntry(raw, prefixGiven ?? served.prefix);
  if (typeof selector === 'string')
    return { queue: raw, prefix: prefixGiven ?? served.prefix, missing: true };
  if (isQueuePattern(selector)) {
    const prefix = kindGiven ? selector.prefix : (prefixGiven ?? served.prefix);
    const pattern = { ...selector, prefix };
    const known =
      addresses.some((a) => a.kind === pattern.kind && a.prefix === pattern.prefix) ||
      (served.patterns ?? []).some((p) => p.kind === pattern.kind && p.prefix === pattern.prefix);
    return known ? { queue: raw, prefix, pattern } : { queue: raw, prefix, missing: true };
  }
  const match = addresses.find((a) => a.name === selector.name);
  const prefix = kindGiven ? selector.prefix : (prefixGiven ?? match?.prefix ?? served.prefix);
  if (!match || match.prefix !== prefix || (kindGiven && match.kind !== selector.kind)) {
    return { queue: selector.name, prefix, missing: true };
  }
  return { queue: selector.name, prefix };
}

/** The metadata keys the scaler reads (KEDA's own, such as scalerAddress, are ignored). */
export const TRIGGER_KEYS = [
  'queue',
  'prefix',
  'mode',
  'includeActive',
  'targetValue',
  'activationValue',
  'drainSeconds',
  'targetWaitSeconds',
  'expectedJobSeconds',
  'concurrency',
] as const;

function invalid(key: string, value: string, allowed: string): ScalerError {
  return new ScalerError(
    status.INVALID_ARGUMENT,
    `trigger metadata ${key}=${shown(value)} is not valid: ${allowed}`,
  );
}

/** A numeric key's allowed range (both ends included) and whether it must be whole. */
interface NumberRange {
  min: number;
  max: number;
  whole?: boolean;
  unit?: string;
}

function allowedText({ min, max, whole, unit }: NumberRange): string {
  return `${whole ? 'a whole number' : 'a number'} from ${min} to ${max}${unit ? ` ${unit}` : ''}`;
}

/** A numeric key: undefined when absent or empty, INVALID_ARGUMENT outside its range. */
function optionalNumber(
  metadata: Record<string, string>,
  key: string,
  range: NumberRange,
): number | undefined {
  const raw = metadata[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw.trim());
  if (
    !Number.isFinite(value) ||
    value < range.min ||
    value > range.max ||
    (range.whole && !Number.isInteger(value))
  ) {
    throw invalid(key, raw, allowedText(range));
  }
  return value;
}

/**
 * The ranges of the numeric keys: wide enough for any real queue, narrow enough that no value
 * makes the answer meaningless (a 1e-320 s objective, an infinite target).
 */
const RANGES = {
  targetValue: { min: 0.001, max: 1_000_000 },
  activationValue: { min: 0, max: 1_000_000 },
  drainSeconds: { min: 0.1, max: 86_400, unit: 'seconds' },
  targetWaitSeconds: { min: 0.1, max: 86_400, unit: 'seconds' },
  expectedJobSeconds: { min: 0.001, max: 86_400, unit: 'seconds' },
  concurrency: { min: 1, max: 10_000, whole: true },
} satisfies Record<string, NumberRange>;

/**
 * Validates a trigger's metadata (KEDA forwards the whole map, `scalerAddress` included; keys we do
 * not know are ignored). Bad values → INVALID_ARGUMENT naming the key, the value and what is
 * allowed; a queue the scaler does not serve → NOT_FOUND, so it never reads arbitrary keys.
 */
export function parseTriggerMetadata(
  metadata: Record<string, string> | undefined,
  served: ServedQueues,
  defaults: SizingObjective,
): TriggerSpec {
  const m = metadata ?? {};
  // KEDA hands external scalers the trigger metadata as written: a `…FromEnv` key arrives under
  // its own name, unresolved, and the sidecar cannot read the scale target's environment.
  for (const key of Object.keys(m)) {
    const base = /^(.+)FromEnv$/.exec(key)?.[1];
    if (base !== undefined && (TRIGGER_KEYS as readonly string[]).includes(base)) {
      throw new ScalerError(
        status.INVALID_ARGUMENT,
        `trigger metadata ${key} is not supported: KEDA passes …FromEnv keys to external scalers unresolved, and the qscale scaler cannot read the scale target's environment; write ${base} itself`,
      );
    }
  }
  const raw = m.queue?.trim();
  if (!raw) {
    throw new ScalerError(
      status.INVALID_ARGUMENT,
      `trigger metadata "queue" is required: one of ${describeServed(served)}`,
    );
  }
  // `queue` is a name, a pattern, or an address `<kind>:…` as in QUEUES.
  const selected = servedSelector(raw, m.prefix?.trim() || undefined, served);
  if ('missing' in selected) {
    throw new ScalerError(
      status.NOT_FOUND,
      `queue ${shown(selected.queue)} with prefix ${shown(selected.prefix)} is not served by this scaler; it serves ${describeServed(served)} (QUEUES, QUEUE_PREFIX)`,
    );
  }
  const { queue, prefix } = selected;
  const modeRaw = (m.mode ?? 'backlog').trim().toLowerCase();
  if (!SCALING_MODES.includes(modeRaw as ScalingMode)) {
    throw invalid('mode', m.mode ?? '', `one of ${SCALING_MODES.join(', ')}`);
  }
  const mode = modeRaw as ScalingMode;
  const includeRaw = (m.includeActive ?? 'true').trim().toLowerCase();
  if (includeRaw !== 'true' && includeRaw !== 'false') {
    throw invalid('includeActive', m.includeActive ?? '', 'true or false');
  }
  const targetValue = optionalNumber(m, 'targetValue', RANGES.targetValue) ?? DEFAULT_TARGET[mode];
  const activationValue = optionalNumber(m, 'activationValue', RANGES.activationValue) ?? 0;
  const targetWaitSeconds =
    optionalNumber(m, 'targetWaitSeconds', RANGES.targetWaitSeconds) ?? defaults.targetWaitSeconds;
  const drainSeconds =
    optionalNumber(m, 'drainSeconds', RANGES.drainSeconds) ?? defaults.drainSeconds;
  const expectedJobSeconds =
    optionalNumber(m, 'expectedJobSeconds', RANGES.expectedJobSeconds) ??
    defaults.expectedJobSeconds;
  const concurrency = optionalNumber(m, 'concurrency', RANGES.concurrency);
  return {
    queue,
    prefix,
    ...(selected.pattern && { pattern: selected.pattern }),
    mode,
    includeActive: includeRaw === 'true',
    targetValue,
    activationValue,
    targetWaitSeconds,
    ...(drainSeconds !== undefined && { drainSeconds }),
    ...(expectedJobSeconds !== undefined && { expectedJobSeconds }),
    ...(concurrency !== undefined && { concurrency }),
  };
}
