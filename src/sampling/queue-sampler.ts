import type { ChainableCommander } from 'ioredis';
import { DEFAULT_BUCKETS } from '../config/config.js';
import type { QueueReader } from '../kinds/driver.js';
import { driverOf } from '../kinds/registry.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import type { QueueSnapshot, Sample } from '../queue/queue-snapshot.js';
import { MAX_BATCH } from '../kinds/batch-script.js';
import { groupByNode } from '../redis/group-by-node.js';
import { isCluster, slotOf, type RedisClient } from '../redis/redis-connection.js';
import { readRedisMemory } from '../redis/redis-memory.js';
import type { QueueSamplerOptions } from './queue-sampler-options.js';
import { SampleTimeoutError } from './sample-timeout-error.js';

/**
 * Samples every configured queue — job counts, backlog and its oldest job, live workers, the
 * processing and wait histograms — in ONE Redis round trip per node (one script run per batch of
 * queues of a kind, pipelined; each queue's driver reads again only what changed),
 * with read-only commands and a cost independent of the number of jobs. Concurrent callers share
 * one read, and a sample is reused for `ttlMs`. Used by the exporter, the KEDA scaler, the status
 * command and the API's backlog guard.
 */
export class QueueSampler {
  private readonly redis: RedisClient;
  private queues: QueueKeys[];
  private readonly opts: Required<QueueSamplerOptions>;
  /** Each queue's reader, by its driver: it keeps what it needs between samples. */
  private readonly readers = new Map<QueueKeys, QueueReader>();
  private cached?: { at: number; sample: Sample };
  private reading?: Promise<Sample>;

  constructor(
    redis: RedisClient,
    queues: QueueKeys | QueueKeys[],
    options: QueueSamplerOptions = {},
  ) {
    const opts = {
      ttlMs: 1000,
      timeoutMs: 1000,
      maxWorkers: 100,
      now: Date.now,
      buckets: DEFAULT_BUCKETS,
      utilizationWindowMs: 60_000,
      workerListTtlMs: 5000,
      readMemory: false,
      ...options,
    };
    this.redis = redis;
    this.queues = Array.isArray(queues) ? queues : [queues];
    this.opts = opts;
    for (const keys of this.queues) {
      this.readers.set(keys, driverOf(keys.kind).createReader(redis, keys, opts));
    }
  }

  /**
   * Samples these queues from now on (discovery found or dropped some): a queue sampled before
   * keeps its reader (and what it derived), a dropped one's reader is closed. The next sample
   * reads the new list, whatever the TTL.
   */
  setQueues(queues: readonly QueueKeys[]): void {
    const byName = new Map(this.queues.map((keys) => [keys.queue, keys]));
    const next = queues.map((keys) => {
      const known = byName.get(keys.queue);
      return known && known.prefix === keys.prefix && known.kind === keys.kind ? known : keys;
    });
    const kept = new Set(next);
    for (const [keys, reader] of this.readers) {
      if (kept.has(keys)) continue;
      this.readers.delete(keys);
      reader.close?.().catch(() => undefined);
    }
    for (const keys of next) {
      if (!this.readers.has(keys)) {
        this.readers.set(keys, driverOf(keys.kind).createReader(this.redis, keys, this.opts));
      }
    }
    this.queues = next;
    this.cached = undefined;
  }

  /**
   * Closes every queue's reader (a Celery queue's holds a pub/sub subscription). Idempotent; a
   * sample after it reads without them.
   */
  async close(): Promise<void> {
    const readers = [...this.readers.values()];
    this.readers.clear();
    this.queues = [];
    await Promise.all(readers.map((reader) => reader.close?.().catch(() => undefined)));
  }

  /** Names of the sampled queues, in order. */
  get queueNames(): string[] {
    return this.queues.map((keys) => keys.queue);
  }

  /**
   * The latest sample, read from Redis when the cached one is older than `ttlMs` (or the caller's
   * `maxAgeMs`, when smaller). Rejects with a
   * {@link SampleTimeoutError} after `timeoutMs`; a slow read still in progress is shared by later
   * callers instead of being started again.
   */
  sample(options: { maxAgeMs?: number } = {}): Promise<Sample> {
    const cached = this.cached;
    const maxAge = Math.min(this.opts.ttlMs, options.maxAgeMs ?? Infinity);
    if (cached && this.opts.now() - cached.at < maxAge) {
      return Promise.resolve(cached.sample);
    }
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.withTimeout(this.reading);
  }

  /** The snapshot of one queue (the first one when no name is given). */
  async sampleQueue(name?: string): Promise<QueueSnapshot> {
    const sample = await this.sample();
    const snapshot =
      name === undefined ? sample.queues[0] : sample.queues.find((q) => q.queue === name);
    if (!snapshot) throw new RangeError(`queue ${JSON.stringify(name)} is not sampled`);
    return snapshot;
  }

  private async withTimeout(reading: Promise<Sample>): Promise<Sample> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SampleTimeoutError(this.opts.timeoutMs)),
        this.opts.timeoutMs,
      );
    });
    try {
      return await Promise.race([reading, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
  /**
   * One pipelined request to one node: one sampling script run per batch of queues of one kind
   * (and, on a Cluster, one slot: a script's keys must share it), at most MAX_BATCH queues each.
   */
  private async readGroup(
    group: QueueKeys[],
    readers: ReadonlyMap<QueueKeys, QueueReader>,
    now: number,
  ): Promise<QueueSnapshot[]> {
    const cluster = isCluster(this.redis);
    const batches = new Map<string, QueueKeys[][]>();
    const shares = new Map<QueueKeys, { keys: string[]; args: (string | number)[] }>();
    for (const keys of group) {
      const share = readers.get(keys)!.args(now);
      shares.set(keys, share);
      const id = cluster ? `${keys.kind}:${slotOf(share.keys[0] ?? '')}` : keys.kind;
      const list = batches.get(id) ?? [];
      const last = list[list.length - 1];
      if (last && last.length < MAX_BATCH) last.push(keys);
      else list.push([keys]);
      batches.set(id, list);
    }
    const order = [...batches.values()].flat();
    // Defined before the pipeline is made: a pipeline has the commands its client had then.
    for (const batch of order) this.define(driverOf(batch[0]!.kind).sampleScript);
    const pipeline = this.redis.pipeline() as ChainableCommander &
      Record<string, (...args: (string | number)[]) => unknown>;
    for (const batch of order) {
      const script = driverOf(batch[0]!.kind).sampleScript;
      const keys = batch.flatMap((k) => shares.get(k)!.keys);
      const args = batch.flatMap((k) => shares.get(k)!.args);
      const shared = readers.get(batch[0]!)!.sharedArgs?.(now) ?? [];
      pipeline[script.name]!(keys.length, ...keys, batch.length, ...shared, ...args);
    }
    const results = (await pipeline.exec()) ?? [];
    const byQueue = new Map<QueueKeys, Promise<QueueSnapshot> | QueueSnapshot>();
    order.forEach((batch, i) => {
      const [error, reply] = results[i] ?? [new Error('no reply')];
      batch.forEach((keys, j) => {
        byQueue.set(
          keys,
          error ? Promise.reject(error) : readers.get(keys)!.decode((reply as unknown[])[j], now),
        );
      });
    });
    return Promise.all(group.map((keys) => byQueue.get(keys)!));
  }

  /** Defines a kind's sampling script on the connection once (the pipeline sends EVALSHA). */
  private define(script: { name: string; lua: string }): void {
    if (typeof (this.redis as unknown as Record<string, unknown>)[script.name] !== 'function') {
      this.redis.defineCommand(script.name, { lua: script.lua });
    }
  }

  private async read(): Promise<Sample> {
    const started = performance.now();
    const now = this.opts.now();
    // Masters are read in parallel: one request per master, whatever the number of queues.
    const byQueue = new Map<string, QueueSnapshot>();
    // The queues and readers of this read, whatever setQueues does meanwhile.
    const queues = this.queues;
    const readers = new Map(this.readers);
    const reading = Promise.all(
      groupByNode(this.redis, queues).map((group) => this.readGroup(group, readers, now)),
    );
    const [groups, memory] = await Promise.all([
      reading,
      this.opts.readMemory ? readRedisMemory(this.redis, reading) : undefined,
    ]);
    for (const snapshot of groups.flat()) byQueue.set(snapshot.queue, snapshot);
    const sample: Sample = {
      sampledAt: now,
      durationSeconds: (performance.now() - started) / 1000,
      queues: queues.map((k) => byQueue.get(k.queue)!),
      ...(memory && { memory }),
    };
    if (queues === this.queues) this.cached = { at: now, sample };
    return sample;
  }
}
