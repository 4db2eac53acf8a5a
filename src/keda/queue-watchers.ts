import { duplicateRedis, type RedisClient } from '../queue/redis-connection.js';
import type { Logger } from '../config/logger.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import type { QueueSnapshot } from '../queue/queue-snapshot.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';

export type SnapshotListener = (snapshot: QueueSnapshot) => void;

export interface QueueWatchersOptions {
  /** How long one blocking read of the events stream waits, in ms. @defaultValue 1000 */
  blockMs?: number;
  /** Least time between two evaluations of one queue, in ms. @defaultValue 250 */
  minIntervalMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Watches one queue for `StreamIsActive`: a blocking read of BullMQ's events stream wakes it as
 * soon as a job is added (or anything else happens), and at the latest every `blockMs` (delayed
 * jobs becoming due add no event). An RQ queue has no events stream: it is sampled every `blockMs`. Each wake takes a fresh sample and hands it to every listener.
 */
class QueueWatcher {
  readonly listeners = new Set<SnapshotListener>();
  last?: QueueSnapshot;
  private stopped = false;
  private readonly connection: RedisClient;
  private readonly done: Promise<void>;

  constructor(
    redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly signals: ScalingSignals,
    private readonly logger: Logger,
    private readonly opts: Required<QueueWatchersOptions>,
  ) {
    // Blocking reads need a connection of their own.
    this.connection = duplicateRedis(redis, `qscale:watch:${keys.queue}`);
    this.connection.on('error', () => undefined);
    this.done = this.loop().catch((error: unknown) =>
      this.logger.error({ err: error, queue: keys.queue }, 'queue watcher stopped'),
    );
  }

  private async evaluate(): Promise<void> {
    const sample = await this.signals.read({ maxAgeMs: 0 });
    const snapshot = sample.queues.find((q) => q.queue === this.keys.queue);
    if (!snapshot || this.stopped) return;
    this.last = snapshot;
    for (const listener of this.listeners) listener(snapshot);
  }

  private async loop(): Promise<void> {
    if (this.keys.kind === 'rq') return this.poll();
    const events = this.keys.bull('events');
    let lastId: string | undefined;
    let lastEvaluation = 0;
    while (!this.stopped) {
      try {
        if (lastId === undefined) {
          // Start after the newest event, so nothing that happens from now on is missed.
          const newest = (await this.connection.xrevrange(events, '+', '-', 'COUNT', 1))[0];
          lastId = newest?.[0] ?? '0-0';
        }
        const wait = lastEvaluation + this.opts.minIntervalMs - Date.now();
        if (wait > 0) await sleep(wait);
        lastEvaluation = Date.now();
        await this.evaluate();
        if (this.stopped) break;
        const reply = (await this.connection.xread(
          'BLOCK',
          this.opts.blockMs,
          'STREAMS',
          events,
          lastId,
        )) as [string, [string, string[]][]][] | null;
        const entries = reply?.[0]?.[1];
        if (entries && entries.length > 0) lastId = entries[entries.length - 1]![0];
      } catch (error) {
        if (this.stopped) break;
        this.logger.debug({ err: error, queue: this.keys.queue }, 'queue watcher read failed');
        await sleep(1000);
      }
    }
  }

  /** RQ publishes no event when a job is added: a fresh sample every `blockMs`. */
  private async poll(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.evaluate();
      } catch (error) {
        if (this.stopped) break;
        this.logger.debug({ err: error, queue: this.keys.queue }, 'queue watcher read failed');
      }
      await sleep(Math.max(this.opts.blockMs, this.opts.minIntervalMs));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.connection.disconnect();
    await this.done;
  }
}

/**
 * One watcher per queue, however many streams are open on it; a watcher and its connection go
 * away with the last listener.
 */
export class QueueWatchers {
  private readonly watchers = new Map<string, QueueWatcher>();
  private readonly opts: Required<QueueWatchersOptions>;

  constructor(
    private readonly redis: RedisClient,
    private readonly keysByQueue: ReadonlyMap<string, QueueKeys>,
    private readonly signals: ScalingSignals,
    private readonly logger: Logger,
    options: QueueWatchersOptions = {},
  ) {
    this.opts = { blockMs: 1000, minIntervalMs: 250, ...options };
  }

  /** Watchers running now (one per watched queue). */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * Calls `listener` with every fresh snapshot of `queue` (at once with the latest one, if the
   * queue is already watched). Returns the function that stops listening.
   */
  watch(queue: string, listener: SnapshotListener): () => void {
    const keys = this.keysByQueue.get(queue);
    if (!keys) throw new RangeError(`queue ${JSON.stringify(queue)} is not served`);
    let watcher = this.watchers.get(queue);
    if (!watcher) {
      watcher = new QueueWatcher(this.redis, keys, this.signals, this.logger, this.opts);
      this.watchers.set(queue, watcher);
    }
    watcher.listeners.add(listener);
    if (watcher.last) listener(watcher.last);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      watcher.listeners.delete(listener);
      if (watcher.listeners.size === 0 && this.watchers.get(queue) === watcher) {
        this.watchers.delete(queue);
        watcher.stop().catch(() => undefined);
      }
    };
  }

  /** Stops every watcher. */
  async close(): Promise<void> {
    const all = [...this.watchers.values()];
    this.watchers.clear();
    await Promise.all(all.map((watcher) => watcher.stop()));
  }
}
