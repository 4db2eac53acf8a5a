import type { Logger } from '../config/logger.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import type { RedisClient } from '../redis/redis-connection.js';
import { workerTotals, type QueueSnapshot, type Sample } from '../queue/queue-snapshot.js';
import type { QueuePrior, QueueRates } from '../scaling/queue-rates.js';
import { desiredWorkers } from '../scaling/scaling-decision.js';
import type { SizingObjective } from '../scaling/worker-sizing.js';

/** One resolution of the history: a point every `stepMs`, kept for `keepMs`. */
export interface HistoryTier {
  name: string;
  stepMs: number;
  keepMs: number;
}

/** One hour at 5 s (720 points) and one day at 1 min (1 440 points), per queue. */
export const HISTORY_TIERS: readonly HistoryTier[] = [
  { name: '5s', stepMs: 5_000, keepMs: 3_600_000 },
  { name: '1m', stepMs: 60_000, keepMs: 86_400_000 },
];

/**
 * One point: `[t (epoch s), backlog, active, done/s, enqueued/s, workers live, workers desired]`;
 * a rate or a worker count that could not be measured is null. (The stored entry also holds the
 * mean processing time and the workers' mean concurrency, read back by {@link readQueuePrior}.)
 */
export type HistoryPoint = [
  number,
  number,
  number,
  number | null,
  number | null,
  number | null,
  number,
];

/**
 * Claims the step (a lease that lapses just before the next one) and, if this sidecar got it,
 * appends the point, trims the stream to its length (exactly: one entry per append) and lets it expire when no sidecar writes for
 * a whole tier. One round trip; replicas of the sidecar write each step once between them.
 */
const APPEND = `
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '*', 'p', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
`;

/** How long a step's lease lasts: a little less than the step (4 s of 5 s, 59 s of 1 min). */
function leaseMs(tier: HistoryTier): number {
  return Math.max(1, Math.round(tier.stepMs - Math.min(1_000, tier.stepMs / 5)));
}

const round = (value: number | undefined, digits = 3): string =>
  value === undefined || !Number.isFinite(value) ? '' : String(Number(value.toFixed(digits)));

function encode(snapshot: QueueSnapshot, rates: QueueRates, sizing: SizingObjective): string {
  const derived = snapshot.derived;
  const live = derived && !derived.workersKnown ? undefined : workerTotals(snapshot).live;
  return [
    snapshot.backlog,
    snapshot.counts.active,
    round(rates.finishedPerSecond),
    round(rates.arrivalPerSecond),
    live === undefined ? '' : String(live),
    desiredWorkers(snapshot, rates, sizing),
    round(rates.meanProcessingSeconds, 4),
    live ? round(workerTotals(snapshot).concurrency / live) : '',
  ].join(',');
}

function decode(id: string, value: string): HistoryPoint | undefined {
  const t = Number(id.split('-')[0]) / 1000;
  const parts = value.split(',');
  if (!Number.isFinite(t) || parts.length < 6) return undefined;
  const num = (text: string | undefined) =>
    text === undefined || text === '' ? null : Number(text);
  return [
    t,
    num(parts[0]) ?? 0,
    num(parts[1]) ?? 0,
    num(parts[2]),
    num(parts[3]),
    num(parts[4]),
    num(parts[5]) ?? 0,
  ];
}

export interface HistoryRecorderOptions {
  redis: RedisClient;
  /** The watched queues, by name. */
  keys: ReadonlyMap<string, QueueKeys>;
  /** The latest sample (shared with scrapes); undefined when Redis could not be read. */
  read: () => Promise<Sample | undefined>;
  rates: (snapshot: QueueSnapshot) => QueueRates;
  sizing: SizingObjective;
  logger: Logger;
  /** Who holds a step's lease (the sidecar's worker id). */
  owner: string;
  /** @defaultValue {@link HISTORY_TIERS} */
  tiers?: readonly HistoryTier[];
}

/**
 * Keeps a bounded, downsampled history of each watched queue's numbers in Redis, so every replica
 * of the sidecar serves the same charts and a restart keeps them. Each tick reads the sample the
 * scrapes share (no extra queue reads) and appends at most one point per queue and tier.
 */
export class HistoryRecorder {
  private readonly options: HistoryRecorderOptions;
  private readonly tiers: readonly HistoryTier[];
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private failing = false;
  /** When this sidecar last tried each tier's step: not again before its lease could lapse. */
  private readonly triedAt = new Map<string, number>();

  constructor(options: HistoryRecorderOptions) {
    this.options = options;
    this.tiers = options.tiers ?? HISTORY_TIERS;
  }

  /** Ticks now (a restarted sidecar's charts go on at once) and every finest step after. */
  start(): this {
    const every = Math.min(...this.tiers.map((tier) => tier.stepMs));
    const tick = () => {
      this.running ??= this.tick().finally(() => {
        this.running = undefined;
      });
    };
    this.timer = setInterval(tick, every);
    this.timer.unref();
    tick();
    return this;
  }

  /** Appends the points whose step is due; never throws (a failed write is logged once). */
  async tick(now = Date.now()): Promise<void> {
    const { redis, keys, logger } = this.options;
    // A tier whose lease this sidecar could not have seen lapse is not asked about (the 1 min
    // tier: once a minute, not at every 5 s tick).
    const due = this.tiers.filter(
      (tier) => now - (this.triedAt.get(tier.name) ?? -Infinity) >= leaseMs(tier),
    );
    if (due.length === 0) return;
    for (const tier of due) this.triedAt.set(tier.name, now);
    const sample = await this.options.read();
    if (!sample) return;
    try {
      await Promise.all(
        sample.queues.flatMap((snapshot) => {
          const queueKeys = keys.get(snapshot.queue);
          if (!queueKeys) return [];
          const point = encode(snapshot, this.options.rates(snapshot), this.options.sizing);
          return due.map((tier) => {
            const key = queueKeys.history(tier.name);
            return redis.eval(
              APPEND,
              2,
              key,
              `${key}:step`,
              this.options.owner,
              String(leaseMs(tier)),
              String(Math.ceil(tier.keepMs / tier.stepMs)),
              point,
              String(tier.keepMs),
            );
          });
        }),
      );
      if (this.failing) logger.info('queue history is written again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) logger.warn({ err: error }, 'queue history could not be written');
      this.failing = true;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}

/**
 * The points of the last `seconds` of a queue's history, oldest first, from the finest tier that
 * covers them (5 s up to an hour, 1 min up to a day).
 */
export async function readHistory(
  redis: RedisClient,
  keys: QueueKeys,
  seconds: number,
  tiers: readonly HistoryTier[] = HISTORY_TIERS,
): Promise<{ stepSeconds: number; points: HistoryPoint[] }> {
  const tier = tiers.find((t) => t.keepMs >= seconds * 1000) ?? tiers[tiers.length - 1]!;
  const from = Date.now() - seconds * 1000;
  const entries = await redis.xrange(
    keys.history(tier.name),
    String(from),
    '+',
    'COUNT',
    Math.ceil(tier.keepMs / tier.stepMs) + 100,
  );
  const points: HistoryPoint[] = [];
  for (const [id, fields] of entries) {
    const at = fields.indexOf('p');
    const point = at >= 0 ? decode(id, fields[at + 1] ?? '') : undefined;
    if (point) points.push(point);
  }
  return { stepSeconds: tier.stepMs / 1000, points };
}

/** Entries of the day tier read per round trip while looking for the newest measured values. */
const PRIOR_PAGE = 120;

/**
 * What a queue's stored history last measured — its mean processing time and the workers' mean
 * concurrency — newest first over the day tier: the sizing's prior for a queue whose jobs have not
 * finished since this sidecar started (a restart, or derived telemetry that counts from the start).
 * Empty when the history holds neither (never written, expired, or written before these fields).
 */
export async function readQueuePrior(
  redis: RedisClient,
  keys: QueueKeys,
  tiers: readonly HistoryTier[] = HISTORY_TIERS,
): Promise<QueuePrior> {
  const prior: QueuePrior = {};
  for (const tier of [...tiers].reverse()) {
    let end = '+';
    for (let read = 0; read < tier.keepMs / tier.stepMs; read += PRIOR_PAGE) {
      const entries = await redis.xrevrange(keys.history(tier.name), end, '-', 'COUNT', PRIOR_PAGE);
      for (const [, fields] of entries) {
        const at = fields.indexOf('p');
        const parts = at >= 0 ? (fields[at + 1] ?? '').split(',') : [];
        const processing = Number(parts[6] || NaN);
        const concurrency = Number(parts[7] || NaN);
        if (prior.processingSeconds === undefined && processing >= 0) {
          prior.processingSeconds = processing;
        }
        if (prior.concurrency === undefined && concurrency > 0) prior.concurrency = concurrency;
        if (prior.processingSeconds !== undefined && prior.concurrency !== undefined) return prior;
      }
      if (entries.length < PRIOR_PAGE) break;
      end = `(${entries[entries.length - 1]![0]}`;
    }
    if (prior.processingSeconds !== undefined) return prior;
  }
  return prior;
}
