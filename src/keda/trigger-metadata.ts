import { status } from '@grpc/grpc-js';
import {
  DEFAULT_TARGET,
  SCALING_MODES,
  type ScalingMode,
  type ScalingOptions,
} from '../scaling/scaling-decision.js';
import type { SizingObjective } from '../scaling/worker-sizing.js';
import { ScalerError, shown } from './scaler-error.js';
import type { QueueKind } from '../config/config.js';
import { splitQueueAddress } from '../config/queue-address.js';

/** A ScaledObject trigger's `metadata`, validated. */
export interface TriggerSpec extends ScalingOptions {
  queue: string;
  prefix: string;
  targetValue: number;
  activationValue: number;
}

/** What the scaler serves: only these queues, each under its prefix. */
export interface ServedQueues {
  queues: readonly string[];
  /** QUEUE_PREFIX: the prefix of every queue not in `prefixes`. */
  prefix: string;
  /** Per-queue prefixes (QUEUES' `bullmq:<prefix>/<name>`). */
  prefixes?: Readonly<Record<string, string>>;
  /** Per-queue kinds (QUEUES' `rq:<name>`); `bullmq` for the rest. */
  kinds?: Readonly<Record<string, QueueKind>>;
}

function describeServed(served: ServedQueues): string {
  return served.queues
    .map((queue) =>
      served.kinds?.[queue] === 'rq'
        ? `rq:${queue}`
        : `bullmq:${served.prefixes?.[queue] ?? served.prefix}/${queue}`,
    )
    .join(', ');
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
      `trigger metadata "queue" is required: one of ${served.queues.join(', ')}`,
    );
  }
  // `queue` is a name, or an address `bullmq:<prefix>/<name>` or `rq:<name>` as in QUEUES.
  const address = splitQueueAddress(raw);
  const queue = address.name;
  const servedPrefix = served.prefixes?.[queue] ?? served.prefix;
  const servedKind = served.kinds?.[queue] ?? 'bullmq';
  const prefix = address.prefix ?? (m.prefix?.trim() || servedPrefix);
  const kindGiven = /^(rq|bullmq):/.test(raw);
  if (
    !served.queues.includes(queue) ||
    prefix !== servedPrefix ||
    (kindGiven && address.kind !== servedKind)
  ) {
    throw new ScalerError(
      status.NOT_FOUND,
      `queue ${shown(queue)} with prefix ${shown(prefix)} is not served by this scaler; it serves ${describeServed(served)} (QUEUES, QUEUE_PREFIX)`,
    );
  }
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
