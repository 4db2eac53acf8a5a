import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../config/logger.js';
import { isRedisOutOfMemory } from '../redis/redis-errors.js';
import type { RedisClient } from '../redis/redis-connection.js';

export interface IntervalLockOptions {
  /** The lock's key; `aliveKey(owner)` must hash to the same Cluster slot (same key prefix). */
  key: string;
  /** The key that says `owner` is alive. */
  aliveKey: (owner: string) => string;
  /** Who this process is, as operators read it (`<WORKER_ID>`); made unique per process. */
  name: string;
  /** The lock lapses this long after it was taken: one holder per interval. */
  intervalMs: number;
  logger: Logger;
  /** How long an owner counts as alive after its last heartbeat. @defaultValue 15000 */
  aliveTtlMs?: number;
}

/**
 * Takes the lock from a holder whose heartbeat is gone, in one step: the holder may not have
 * changed meanwhile, and a live one keeps it. KEYS: lock, the holder's alive key. ARGV: holder,
 * new owner, lock ttl in ms.
 */
const TAKE_OVER = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

/** Deletes the lock if `owner` still holds it. KEYS: lock. ARGV: owner. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

type WithLockScripts = RedisClient & {
  qscaleTakeOverLock(
    lock: string,
    alive: string,
    holder: string,
    owner: string,
    ttlMs: number,
  ): Promise<number>;
  qscaleReleaseLock(lock: string, owner: string): Promise<number>;
};

function withLockScripts(redis: RedisClient): WithLockScripts {
  const scripted = redis as WithLockScripts;
  if (typeof scripted.qscaleTakeOverLock !== 'function') {
    redis.defineCommand('qscaleTakeOverLock', { numberOfKeys: 2, lua: TAKE_OVER });
    redis.defineCommand('qscaleReleaseLock', { numberOfKeys: 1, lua: RELEASE });
  }
  return scripted;
}

/**
 * "One of many replicas does this, once per interval" — the sweeps of leftovers and retention. The
 * lock names its owner (`<WORKER_ID>/<pid>/<random>`), and each owner keeps a heartbeat key alive
 * while it runs; a holder whose heartbeat is gone (a process killed with SIGKILL, an OOM kill) is
 * ignored and its lock taken over, and a holder that stops cleanly releases its lock. So a process
 * that comes back after a crash sweeps at start, instead of waiting out the dead one's interval.
 *
 * If Redis refuses to store the lock for lack of memory, the caller runs without it: the sweeps
 * free memory, and running them twice is harmless.
 */
export class IntervalLock {
  readonly owner: string;
  private readonly redis: WithLockScripts;
  private readonly opts: Required<IntervalLockOptions>;
  private heartbeat?: NodeJS.Timeout;
  private firstBeat?: Promise<unknown>;

  constructor(redis: RedisClient, options: IntervalLockOptions) {
    this.redis = withLockScripts(redis);
    this.opts = { aliveTtlMs: 15_000, ...options };
    this.owner = `${options.name}/${process.pid}/${randomBytes(4).toString('hex')}`;
  }

  /** Starts the heartbeat that tells other replicas this owner is alive (also on first take). */
  start(): this {
    if (this.heartbeat) return this;
    const beat = () =>
      this.redis
        .set(this.opts.aliveKey(this.owner), '1', 'PX', this.opts.aliveTtlMs)
        .catch((error: unknown) =>
          this.opts.logger.debug({ err: error, key: this.opts.key }, 'lock heartbeat failed'),
        );
    this.firstBeat = beat();
    this.heartbeat = setInterval(beat, this.opts.aliveTtlMs / 3).unref();
    return this;
  }

  /**
   * Takes the lock for this interval: `taken`, `held` (a live owner took it this interval), or
   * `no-memory` (Redis is full: the caller may run without it). With `waitForLapse`, a holder
   * whose last heartbeat is older than this process gets a second look once that heartbeat would
   * have lapsed — it may be the process this one replaces, killed a moment ago; `signal` cuts the
   * wait short.
   */
  async take(
    options: { waitForLapse?: boolean; signal?: AbortSignal } = {},
  ): Promise<'taken' | 'held' | 'no-memory'> {
    const { key, intervalMs } = this.opts;
    const ttl = Math.max(1000, intervalMs - 1000);
    // Alive before holding anything, so no other replica takes a fresh lock for a dead one's.
    await this.start().firstBeat;
    try {
      for (let look = 0; look < 3; look++) {
        if ((await this.redis.set(key, this.owner, 'PX', ttl, 'NX')) === 'OK') return 'taken';
        const holder = await this.redis.get(key);
        if (holder === null) continue; // lapsed just now: try again
        if (holder === this.owner) return 'held';
        const alive = this.opts.aliveKey(holder);
        if ((await this.redis.qscaleTakeOverLock(key, alive, holder, this.owner, ttl)) === 1) {
          this.opts.logger.info(
            { lock: key, previousOwner: holder },
            'took over a lock whose owner is gone',
          );
          return 'taken';
        }
        if (!options.waitForLapse || look > 0) return 'held';
        const left = await this.redis.pttl(alive);
        if (left <= 0) continue;
        // A holder that beat since this process started outlived whatever this one replaces.
        if (this.opts.aliveTtlMs - left < process.uptime() * 1000) return 'held';
        await sleep(left + 500, undefined, { signal: options.signal });
      }
      return 'held';
    } catch (error) {
      if (isRedisOutOfMemory(error)) return 'no-memory';
      if ((error as Error).name === 'AbortError') return 'held';
      throw error;
    }
  }

  /** Stops the heartbeat, and releases the lock and the heartbeat key; never throws. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    await Promise.all([
      this.redis.qscaleReleaseLock(this.opts.key, this.owner),
      this.redis.del(this.opts.aliveKey(this.owner)),
    ]).catch((error: unknown) =>
      this.opts.logger.debug({ err: error, key: this.opts.key }, 'could not release a lock'),
    );
  }
}
