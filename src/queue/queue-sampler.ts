import type { Redis } from 'ioredis';
import type { QueueKeys } from './queue-keys.js';
import type { QueueSnapshot } from './queue-snapshot.js';

/**
 * Reads the counts and the oldest backlog job of a queue in one read-only round trip, independent
 * of how many jobs there are (O(1) per key: LLEN, ZCARD, ZCOUNT, and the head of each list).
 *
 * The delayed set's score is the due time in ms × 4096 plus a 12-bit counter, so the jobs already
 * due are `ZCOUNT delayed 0 ((now+1)*4096 - 1)`. A job's enqueue time is its hash's `timestamp`;
 * with a hash-tag prefix all of a queue's keys share one Cluster slot.
 *
 * KEYS: wait, paused, prioritized, active, delayed, waiting-children, completed, failed, meta
 * ARGV: job key prefix (`<prefix>:<queue>:`), now (ms)
 */
const SAMPLE_QUEUE = `
local now = tonumber(ARGV[2])
local jobPrefix = ARGV[1]
local oldest = -1
local function consider(ts)
  if ts and (oldest < 0 or ts < oldest) then oldest = ts end
end
local function jobTimestamp(id)
  if not id then return nil end
  return tonumber(redis.call('HGET', jobPrefix .. id, 'timestamp'))
end
local wait = redis.call('LLEN', KEYS[1])
local paused = redis.call('LLEN', KEYS[2])
local prioritized = redis.call('ZCARD', KEYS[3])
local active = redis.call('LLEN', KEYS[4])
local delayed = redis.call('ZCARD', KEYS[5])
local children = redis.call('ZCARD', KEYS[6])
local completed = redis.call('ZCARD', KEYS[7])
local failed = redis.call('ZCARD', KEYS[8])
local due = redis.call('ZCOUNT', KEYS[5], 0, (now + 1) * 4096 - 1)
if wait > 0 then consider(jobTimestamp(redis.call('LINDEX', KEYS[1], -1))) end
if paused > 0 then consider(jobTimestamp(redis.call('LINDEX', KEYS[2], -1))) end
if prioritized > 0 then consider(jobTimestamp(redis.call('ZRANGE', KEYS[3], 0, 0)[1])) end
if due > 0 then
  local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  consider(math.floor(tonumber(first[2]) / 4096))
end
local isPaused = redis.call('HEXISTS', KEYS[9], 'paused')
return {wait, paused, prioritized, active, delayed, children, completed, failed, due, oldest, isPaused}
`;

type SamplingRedis = Redis & {
  qscaleSampleQueue(...args: (string | number)[]): Promise<number[]>;
};

export interface QueueSamplerOptions {
  /** How long a snapshot is reused, in ms. @defaultValue 1000 */
  ttlMs?: number;
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number;
}

/**
 * Samples one queue's state for the status command, the API's backlog guard and (later) the
 * exporter and the KEDA scaler. Concurrent callers share one read, and a snapshot is reused for
 * `ttlMs`.
 */
export class QueueSampler {
  private readonly redis: SamplingRedis;
  private readonly keys: QueueKeys;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private cached?: { at: number; snapshot: QueueSnapshot };
  private inFlight?: Promise<QueueSnapshot>;

  constructor(redis: Redis, keys: QueueKeys, options: QueueSamplerOptions = {}) {
    const opts = { ttlMs: 1000, now: Date.now, ...options };
    if (!Number.isFinite(opts.ttlMs) || opts.ttlMs < 0) {
      throw new RangeError(`QueueSampler ttlMs must be a number ≥ 0, got ${opts.ttlMs}`);
    }
    this.redis = redis as SamplingRedis;
    if (typeof this.redis.qscaleSampleQueue !== 'function') {
      redis.defineCommand('qscaleSampleQueue', { numberOfKeys: 9, lua: SAMPLE_QUEUE });
    }
    this.keys = keys;
    this.ttlMs = opts.ttlMs;
    this.now = opts.now;
  }

  /** The latest snapshot, read from Redis when the cached one is older than `ttlMs`. */
  sample(): Promise<QueueSnapshot> {
    const cached = this.cached;
    if (cached && this.now() - cached.at < this.ttlMs) return Promise.resolve(cached.snapshot);
    this.inFlight ??= this.read().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async read(): Promise<QueueSnapshot> {
    const k = this.keys;
    const now = this.now();
    const reply = await this.redis.qscaleSampleQueue(
      k.bull('wait'),
      k.bull('paused'),
      k.bull('prioritized'),
      k.bull('active'),
      k.bull('delayed'),
      k.bull('waiting-children'),
      k.bull('completed'),
      k.bull('failed'),
      k.bull('meta'),
      k.bull(''),
      now,
    );
    const [wait, paused, prioritized, active, delayed, children, completed, failed, due, oldest] =
      reply.map(Number) as number[];
    const snapshot: QueueSnapshot = {
      queue: k.queue,
      sampledAt: now,
      counts: {
        wait: wait!,
        paused: paused!,
        prioritized: prioritized!,
        active: active!,
        delayed: delayed!,
        'waiting-children': children!,
        completed: completed!,
        failed: failed!,
      },
      delayedDue: due!,
      backlog: wait! + paused! + prioritized! + due!,
      oldestJobAgeSeconds: oldest! >= 0 ? Math.max(0, (now - oldest!) / 1000) : 0,
      paused: reply[10] === 1,
    };
    this.cached = { at: now, snapshot };
    return snapshot;
  }
}
