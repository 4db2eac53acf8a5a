import type { QueueWatch } from '../kinds/driver.js';
import { driverOf } from '../kinds/registry.js';
import type { RedisClient } from '../redis/redis-connection.js';
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
 * Watches one queue for `StreamIsActive`: its driver's watch wakes it as soon as the queue may have
 * changed (BullMQ: a blocking read of the events stream; a kind that publishes nothing: a timer),
 * and at the latest every `blockMs`. Each wake takes a fresh sample and hands it to every listener.
 */
class QueueWatcher {
  readonly listeners = new Set<SnapshotListener>();
  last?: QueueSnapshot;
  private stopped = false;
  private readonly watch: QueueWatch;
  private readonly done: Promise<void>;

  constructor(
    redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly signals: ScalingSignals,
    private readonly logger: Logger,
    private readonly opts: Required<QueueWatchersOptions>,
  ) {
    this.watch = driverOf(keys.kind).watch(redis, keys, { blockMs: opts.blockMs });
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
    let lastEvaluation = 0;
    while (!this.stopped) {
      try {
        await this.watch.ready();
        const wait = lastEvaluation + this.opts.minIntervalMs - Date.now();
        if (wait > 0) await sleep(wait);
        lastEvaluation = Date.now();
        await this.evaluate();
        if (this.stopped) break;
        await this.watch.next();
      } catch (error) {
        if (this.stopped) break;
        this.logger.debug({ err: error, queue: this.keys.queue }, 'queue watcher read failed');
        await sleep(1000);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.watch.close();
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
