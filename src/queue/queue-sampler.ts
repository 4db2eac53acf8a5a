import { DEFAULT_BUCKETS } from '../config/config.js';
import {
  CATCH_UP_EVENTS,
  SAMPLE_QUEUE,
  STALE_LIMIT,
  toTotals,
  toWorker,
  type EventsReply,
  type SampleReply,
} from './bullmq-sample.js';
import { connectedBullmqWorkers, type ConnectedWorkers } from './bullmq-workers.js';
import { BullmqDerivedState } from './derived-telemetry.js';
import { RqDerivedState } from './rq-derived-state.js';
import { groupByNode } from './group-by-node.js';
import type { RedisClient } from './redis-connection.js';
import { parseHistogram } from './histogram-fields.js';
import type { QueueKeys } from './queue-keys.js';
import type { QueueSamplerOptions } from './queue-sampler-options.js';
import type { QueueSnapshot, Sample, WorkerSnapshot } from './queue-snapshot.js';
import { readRedisMemory } from './redis-memory.js';
import { rqSampleKeys, rqSnapshot, SAMPLE_RQ_QUEUE, type RqSampleReply } from './rq-sample.js';
import { SampleTimeoutError } from './sample-timeout-error.js';

type SamplingRedis = RedisClient & {
  qscaleSampleQueue(...args: (string | number)[]): Promise<SampleReply>;
  qscaleSampleRqQueue(...args: (string | number)[]): Promise<RqSampleReply>;
  qscaleCatchUpEvents(...args: (string | number)[]): Promise<EventsReply>;
};

/**
 * Extra reads of a queue's events stream per sample when it is behind, at most: with the first,
 * 20 000 events, twice what BullMQ keeps by default (`streams.events.maxLen` 10 000), each its own
 * short script.
 */
const CATCH_UP_ROUNDS = 39;

/**
 * Events-stream entries one script reads at most, for workers without telemetry: ~500 finished-job
 * events cost Redis ~4 ms, so that no read blocks it for long.
 */
const MAX_EVENTS = 500;
/** Finished (and failed) RQ registry entries one sample reads at most per queue. */
const MAX_RQ_FINISHED = 1000;

/**
 * Samples every configured queue — job counts, backlog and its oldest job, live workers, the
 * processing and wait histograms — in ONE Redis round trip (one script per queue, pipelined),
 * with read-only commands and a cost independent of the number of jobs. Concurrent callers share
 * one read, and a sample is reused for `ttlMs`. Used by the exporter, the KEDA scaler, the status
 * command and the API's backlog guard.
 */
export class QueueSampler {
  private readonly redis: SamplingRedis;
  private readonly queues: QueueKeys[];
  private readonly opts: Required<QueueSamplerOptions>;
  private readonly bullmqDerived = new Map<string, BullmqDerivedState>();
  private readonly rqDerived = new Map<string, RqDerivedState>();
  /** Whether each BullMQ queue's last sample found qscale telemetry. */
  private readonly instrumented = new Map<string, boolean>();
  private readonly workerLists = new Map<
    string,
    { at: number; reading: Promise<ConnectedWorkers> }
  >();
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
    this.redis = redis as SamplingRedis;
    if (typeof this.redis.qscaleSampleQueue !== 'function') {
      redis.defineCommand('qscaleSampleQueue', { numberOfKeys: 19, lua: SAMPLE_QUEUE });
    }
    if (typeof this.redis.qscaleCatchUpEvents !== 'function') {
      redis.defineCommand('qscaleCatchUpEvents', { numberOfKeys: 1, lua: CATCH_UP_EVENTS });
    }
    if (typeof this.redis.qscaleSampleRqQueue !== 'function') {
      redis.defineCommand('qscaleSampleRqQueue', { numberOfKeys: 9, lua: SAMPLE_RQ_QUEUE });
    }
    this.queues = Array.isArray(queues) ? queues : [queues];
    if (this.queues.length === 0) throw new RangeError('QueueSampler needs at least one queue');
    this.opts = opts;
    for (const k of this.queues) {
      if (k.kind === 'rq') {
        this.rqDerived.set(k.queue, new RqDerivedState(opts.buckets, opts.utilizationWindowMs));
      } else {
        this.bullmqDerived.set(k.queue, new BullmqDerivedState(opts.buckets));
      }
    }
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
  /** One pipelined request of one script per queue, to one node. */
  private async readGroup(group: QueueKeys[], now: number): Promise<QueueSnapshot[]> {
    const pipeline = this.redis.pipeline() as unknown as {
      qscaleSampleQueue(...args: (string | number)[]): unknown;
      qscaleSampleRqQueue(...args: (string | number)[]): unknown;
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const k of group) {
      const rq = this.rqDerived.get(k.queue);
      if (rq) {
        pipeline.qscaleSampleRqQueue(
          ...rqSampleKeys(k),
          rq.finished.start(),
          rq.failed.start(),
          MAX_RQ_FINISHED + rq.finished.extra,
          MAX_RQ_FINISHED + rq.failed.extra,
          this.opts.maxWorkers,
        );
        continue;
      }
      const derived = this.bullmqDerived.get(k.queue)!;
      pipeline.qscaleSampleQueue(
        k.bull('wait'),
        k.bull('paused'),
        k.bull('prioritized'),
        k.bull('active'),
        k.bull('delayed'),
        k.bull('waiting-children'),
        k.bull('completed'),
        k.bull('failed'),
        k.bull('meta'),
        k.bull('id'),
        k.workers(),
        k.histogram('processing:completed'),
        k.histogram('processing:failed'),
        k.histogram('wait'),
        k.workerTotals(),
        k.workerContributions(),
        k.workersByStart(),
        k.bull('events'),
        k.storage(),
        k.bull(''),
        k.workerPrefix(),
        now,
        this.opts.maxWorkers,
        STALE_LIMIT,
        derived.nextStart(),
        this.instrumented.get(k.queue) === false ? MAX_EVENTS : 0,
      );
    }
    const results = (await pipeline.exec()) ?? [];
    return Promise.all(
      group.map((k, i) => {
        const [error, reply] = results[i] ?? [new Error('no reply')];
        if (error) throw error;
        return k.kind === 'rq'
          ? rqSnapshot(
              k,
              now,
              reply as RqSampleReply,
              this.rqDerived.get(k.queue)!,
              this.opts.maxWorkers,
            )
          : this.toSnapshot(k, now, reply as SampleReply);
      }),
    );
  }

  /**
   * Takes a sample's share of the events stream; when it filled MAX_EVENTS (the stream runs ahead
   * of the sidecar), reads on, at most CATCH_UP_ROUNDS more times, one bounded script each.
   */
  private async readEvents(
    keys: QueueKeys,
    derived: BullmqDerivedState,
    reply: EventsReply,
  ): Promise<void> {
    let [cursor, events, read, stream] = reply;
    for (let round = 0; ; round++) {
      const [added, length, first, last] = stream;
      derived.ingest({ cursor, events, read, stream: { added, length, first, last } });
      if (read < MAX_EVENTS || round >= CATCH_UP_ROUNDS) return;
      [cursor, events, read, stream] = await this.redis.qscaleCatchUpEvents(
        keys.bull('events'),
        keys.bull(''),
        derived.nextStart(),
        MAX_EVENTS,
      );
    }
  }

  /**
   * BullMQ's workers of a queue (CLIENT LIST), reused for `workerListTtlMs`: only asked for queues
   * whose workers have no qscale telemetry.
   */
  private connectedWorkers(keys: QueueKeys, now: number): Promise<ConnectedWorkers> {
    const cached = this.workerLists.get(keys.queue);
    if (cached && now - cached.at < this.opts.workerListTtlMs) return cached.reading;
    const reading = connectedBullmqWorkers(this.redis, keys);
    this.workerLists.set(keys.queue, { at: now, reading });
    return reading;
  }

  private async read(): Promise<Sample> {
    const started = performance.now();
    const now = this.opts.now();
    // Masters are read in parallel: one request per master, whatever the number of queues.
    const byQueue = new Map<string, QueueSnapshot>();
    const reading = Promise.all(
      groupByNode(this.redis, this.queues).map((group) => this.readGroup(group, now)),
    );
    const [groups, memory] = await Promise.all([
      reading,
      this.opts.readMemory ? readRedisMemory(this.redis, reading) : undefined,
    ]);
    for (const snapshot of groups.flat()) byQueue.set(snapshot.queue, snapshot);
    const sample: Sample = {
      sampledAt: now,
      durationSeconds: (performance.now() - started) / 1000,
      queues: this.queues.map((k) => byQueue.get(k.queue)!),
      ...(memory && { memory }),
    };
    this.cached = { at: now, sample };
    return sample;
  }

  private async toSnapshot(
    keys: QueueKeys,
    now: number,
    reply: SampleReply,
  ): Promise<QueueSnapshot> {
    const queue = keys.queue;
    const [
      counts,
      enqueued,
      workerList,
      completedHist,
      failedHist,
      waitHist,
      fleet,
      stream,
      blobBytes,
    ] = reply;
    const [wait, paused, prioritized, active, delayed, children, completed, failed, due, oldest] =
      counts.map(Number) as number[];
    const workers: WorkerSnapshot[] = [];
    for (let i = 0; i + 1 < workerList.length; i += 2) {
      const worker = toWorker(workerList[i] as string, workerList[i + 1] as string[]);
      if (worker) workers.push(worker);
    }
    const totals = toTotals(fleet);
    const processing = {
      completed: parseHistogram(completedHist),
      failed: parseHistogram(failedHist),
    };
    const waitHistogram = parseHistogram(waitHist);
    const derived = this.bullmqDerived.get(queue)!;
    await this.readEvents(keys, derived, stream);
    // qscale telemetry: a live heartbeat, or histograms that instrumented workers wrote.
    const instrumented =
      totals.live > 0 ||
      processing.completed.count + processing.failed.count + waitHistogram.count > 0;
    this.instrumented.set(queue, instrumented);
    const backlog = wait! + paused! + prioritized! + due!;
    const base = {
      queue,
      prefix: keys.prefix,
      kind: 'bullmq' as const,
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
      backlog,
      oldestJobAgeSeconds: oldest! >= 0 ? Math.max(0, (now - oldest!) / 1000) : 0,
      paused: counts[10] === 1,
      enqueuedTotal: Number(enqueued) || 0,
      blobBytes: Number(blobBytes) || 0,
    };
    if (instrumented) {
      return {
        ...base,
        telemetry: 'instrumented',
        workers,
        workerTotals: totals,
        processing,
        wait: waitHistogram,
      };
    }
    const connected = await this.connectedWorkers(keys, now);
    const live = connected.count ?? 0;
    const histograms = derived.snapshot();
    return {
      ...base,
      telemetry: 'derived',
      derived: {
        from: "BullMQ's events stream (completed/failed) and finished jobs' times; workers from BullMQ's worker list (CLIENT LIST); busy slots from the active list",
        workersKnown: connected.count !== null,
        workerNames: connected.count === null ? [] : connected.names.slice(0, 100),
        concurrencyEstimated: true,
        eventsMissed: derived.missedEvents,
      },
      workers: [],
      workerTotals: derived.totals(now, live, active!, backlog),
      ...histograms,
    };
  }
}
