import { status } from '@grpc/grpc-js';
import {
  DEFAULT_TARGET,
  SCALING_MODES,
  type ScalingMode,
  type ScalingOptions,
} from '../scaling/scaling-decision.js';
import { ScalerError } from './scaler-error.js';
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
  'concurrency',
] as const;

function invalid(key: string, value: string, allowed: string): ScalerError {
  return new ScalerError(
    status.INVALID_ARGUMENT,
    `trigger metadata ${key}=${JSON.stringify(value)} is not valid: ${allowed}`,
  );
}

function number(
  metadata: Record<string, string>,
  key: string,
  fallback: number,
  check: (n: number) => boolean,
  allowed: string,
): number {
  const raw = metadata[key];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw.trim());
  if (!Number.isFinite(value) || !check(value)) throw invalid(key, raw, allowed);
  return value;
}

/**
 * Validates a trigger's metadata (KEDA forwards the whole map, `scalerAddress` included; keys we do
 * not know are ignored). Bad values → INVALID_ARGUMENT naming the key, the value and what is
 * allowed; a queue the scaler does not serve → NOT_FOUND, so it never reads arbitrary keys.
 */
export function parseTriggerMetadata(
  metadata: Record<string, string> | undefined,
  served: ServedQueues,
  defaults: { drainSeconds: number },
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
      `queue ${JSON.stringify(queue)} with prefix ${JSON.stringify(prefix)} is not served by this scaler; it serves ${describeServed(served)} (QUEUES, QUEUE_PREFIX)`,
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
  const targetValue = number(m, 'targetValue', DEFAULT_TARGET[mode], (n) => n > 0, 'a number > 0');
  const activationValue = number(m, 'activationValue', 0, (n) => n >= 0, 'a number ≥ 0');
  const drainSeconds = number(
    m,
    'drainSeconds',
    defaults.drainSeconds,
    (n) => n > 0,
    'a number of seconds > 0',
  );
  const concurrencyRaw = m.concurrency;
  const concurrency =
    concurrencyRaw === undefined || concurrencyRaw.trim() === ''
      ? undefined
      : number(m, 'concurrency', 1, (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1');
  return {
    queue,
    prefix,
    mode,
    includeActive: includeRaw === 'true',
    targetValue,
    activationValue,
    drainSeconds,
    ...(concurrency !== undefined && { concurrency }),
  };
}
