import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import type { RedisClient } from '../redis/redis-connection.js';
import type { QueuePattern } from './queue-kind.js';
import { driverOf } from './registry.js';
import { watchedQueue, watchedQueuesOf, type WatchedQueue } from './watched-queue.js';

export interface QueueDiscoveryOptions {
  /** The queues QUEUES names one by one: always watched, whether they exist or not. */
  named: readonly WatchedQueue[];
  /** QUEUES' patterns. */
  patterns: readonly QueuePattern[];
  /** Time between two discoveries (DISCOVERY_INTERVAL_SECONDS), in ms. */
  intervalMs: number;
  /** Queues found by pattern, at most (MAX_DISCOVERED_QUEUES); more are left out, with a warning. */
  maxQueues: number;
  /** Where warnings go (the cap); none: silent. */
  logger?: Logger;
}

/** What one discovery changed. */
export interface QueueChanges {
  added: WatchedQueue[];
  removed: WatchedQueue[];
}

/**
 * The queues a sidecar watches: those QUEUES names, and those its patterns find, asked of each
 * kind's driver again every `intervalMs`: a queue that appears is added, one that vanished is
 * dropped (its series leave /metrics with it). `queues` is live: readers see every change.
 */
export class QueueDiscovery {
  /** Every watched queue by name, named ones first. */
  readonly queues = new Map<string, WatchedQueue>();
  /** Queues found by pattern that the cap left out at the last discovery. */
  leftOut = 0;
  /** Addresses of found queues left out because their name is taken (another kind or prefix). */
  private clashes = new Set<string>();
  /** When the last discovery ended (epoch ms; 0: none yet) and whether it failed. */
  lastDiscovery = { at: 0, ok: true };
  private readonly listeners = new Set<(changes: QueueChanges) => void>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: QueueDiscoveryOptions,
  ) {
    for (const queue of options.named) this.queues.set(queue.name, queue);
  }

  /** Whether any QUEUES entry is a pattern. */
  get discovers(): boolean {
    return this.options.patterns.length > 0;
  }

  /** The watched queues, in order. */
  all(): WatchedQueue[] {
    return [...this.queues.values()];
  }

  /** Calls `listener` after each discovery that added or removed queues. */
  onChange(listener: (changes: QueueChanges) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs one discovery now (shared with one in progress). */
  refresh(): Promise<void> {
    this.running ??= this.discover().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Discovers now, then every `intervalMs`; a failed discovery is logged and tried again. */
  start(): void {
    if (!this.discovers || this.timer || this.closed) return;
    const run = () =>
      this.refresh().catch((error: unknown) => {
        this.lastDiscovery = { at: Date.now(), ok: false };
        this.options.logger?.warn({ err: error }, 'queue discovery failed; trying again');
      });
    void run();
    this.timer = setInterval(() => void run(), this.options.intervalMs);
    this.timer.unref();
  }

  private async discover(): Promise<void> {
    const { named, patterns, maxQueues, logger } = this.options;
    const found = new Map<string, WatchedQueue>();
    let leftOut = 0;
    const clashes = new Set<string>();
    for (const pattern of patterns) {
      // One more than the room left tells whether the cap cut anything.
      const room = maxQueues - found.size;
      const names = await driverOf(pattern.kind).discover(this.redis, pattern, room + 1);
      for (const name of names) {
        const taken = named.find((q) => q.name === name) ?? found.get(name);
        if (taken) {
          // Queue names are the identity of a watched queue (its series' `queue` label): a second
          // queue of that name (another kind or prefix) is left out, and said once.
          const other = watchedQueue({ kind: pattern.kind, prefix: pattern.prefix, name });
          if (other.address !== taken.address) clashes.add(other.address);
          continue;
        }
        if (found.size >= maxQueues) {
          leftOut++;
          continue;
        }
        found.set(name, watchedQueue({ kind: pattern.kind, prefix: pattern.prefix, name }));
      }
    }
    if (this.closed) return;
    const added: WatchedQueue[] = [];
    const removed: WatchedQueue[] = [];
    const namedNames = new Set(named.map((q) => q.name));
    for (const [name, queue] of this.queues) {
      if (!namedNames.has(name) && !found.has(name)) {
        this.queues.delete(name);
        removed.push(queue);
      }
    }
    for (const [name, queue] of found) {
      if (!this.queues.has(name)) {
        this.queues.set(name, queue);
        added.push(queue);
      }
    }
    if (leftOut > 0 && this.leftOut === 0) {
      logger?.warn(
        { maxQueues, leftOut },
        `more queues match QUEUES' patterns than MAX_DISCOVERED_QUEUES (${maxQueues}): ${leftOut} or more are not watched`,
      );
    }
    const newClashes = [...clashes].filter((address) => !this.clashes.has(address));
    if (newClashes.length > 0) {
      logger?.warn(
        { notWatched: newClashes },
        "queues found by QUEUES' patterns have the name of a queue already watched (another kind or prefix) and are not watched: queue names must be distinct; name one of them in QUEUES or narrow the patterns",
      );
    }
    this.clashes = clashes;
    this.leftOut = leftOut;
    this.lastDiscovery = { at: Date.now(), ok: true };
    if (added.length > 0 || removed.length > 0) {
      logger?.info(
        { added: added.map((q) => q.address), removed: removed.map((q) => q.address) },
        'watched queues changed',
      );
      for (const listener of this.listeners) listener({ added, removed });
    }
  }

  /** Stops discovering. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }
}

/**
 * The queues a config watches right now, for one-shot commands (`status`, `doctor`): the named ones
 * and, when QUEUES has patterns, those one discovery finds; `leftOut`: those the cap left out.
 */
export async function currentWatchedQueues(
  redis: RedisClient,
  config: Pick<Config, 'metrics'>,
): Promise<{ queues: WatchedQueue[]; leftOut: number }> {
  const discovery = new QueueDiscovery(redis, {
    named: watchedQueuesOf(config),
    patterns: config.metrics.queuePatterns,
    intervalMs: config.metrics.discoveryIntervalSeconds * 1000,
    maxQueues: config.metrics.maxDiscoveredQueues,
  });
  if (discovery.discovers) await discovery.refresh();
  return { queues: discovery.all(), leftOut: discovery.leftOut };
}
