import type { ChainableCommander } from 'ioredis';
import { parseHistogram } from '../../queue/histogram-fields.js';
import type { QueueKeys } from '../../queue/queue-keys.js';
import type { QueueSnapshot, WorkerSnapshot } from '../../queue/queue-snapshot.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import type { QueueReader, ReaderOptions } from '../driver.js';
import { BullmqDerivedState } from './bullmq-derived-state.js';
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

type BullmqRedis = RedisClient & {
  qscaleCatchUpEvents(...args: (string | number)[]): Promise<EventsReply>;
};
type BullmqPipeline = ChainableCommander & {
  qscaleSampleQueue(...args: (string | number)[]): unknown;
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

/** Defines the sampling scripts on a connection once. */
export function defineBullmqCommands(redis: RedisClient): void {
  const r = redis as RedisClient & Record<string, unknown>;
  if (typeof r.qscaleSampleQueue !== 'function') {
    redis.defineCommand('qscaleSampleQueue', { numberOfKeys: 19, lua: SAMPLE_QUEUE });
  }
  if (typeof r.qscaleCatchUpEvents !== 'function') {
    redis.defineCommand('qscaleCatchUpEvents', { numberOfKeys: 1, lua: CATCH_UP_EVENTS });
  }
}

/**
 * Reads one BullMQ queue: job counts, backlog and its oldest job, qscale's worker telemetry when
 * the workers keep it, else numbers derived from BullMQ's events stream and worker list.
 */
export class BullmqReader implements QueueReader {
  private readonly derived: BullmqDerivedState;
  /** Whether the last sample found qscale telemetry. */
  private instrumented?: boolean;
  private workerList?: { at: number; reading: Promise<ConnectedWorkers> };

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly options: ReaderOptions,
  ) {
    defineBullmqCommands(redis);
    this.derived = new BullmqDerivedState(options.buckets);
  }

  queue(pipeline: ChainableCommander, now: number): void {
    const k = this.keys;
    (pipeline as BullmqPipeline).qscaleSampleQueue(
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
      this.options.maxWorkers,
      STALE_LIMIT,
      this.derived.nextStart(),
      this.instrumented === false ? MAX_EVENTS : 0,
    );
  }

  /**
   * Takes a sample's share of the events stream; when it filled MAX_EVENTS (the stream runs ahead
   * of the sidecar), reads on, at most CATCH_UP_ROUNDS more times, one bounded script each.
   */
  private async readEvents(reply: EventsReply): Promise<void> {
    let [cursor, events, read, stream] = reply;
    for (let round = 0; ; round++) {
      const [added, length, first, last] = stream;
      this.derived.ingest({ cursor, events, read, stream: { added, length, first, last } });
      if (read < MAX_EVENTS || round >= CATCH_UP_ROUNDS) return;
      [cursor, events, read, stream] = await (this.redis as BullmqRedis).qscaleCatchUpEvents(
        this.keys.bull('events'),
        this.keys.bull(''),
        this.derived.nextStart(),
        MAX_EVENTS,
      );
    }
  }

  /**
   * BullMQ's workers of the queue (CLIENT LIST), reused for `workerListTtlMs`: only asked when the
   * workers have no qscale telemetry.
   */
  private connectedWorkers(now: number): Promise<ConnectedWorkers> {
    const cached = this.workerList;
    if (cached && now - cached.at < this.options.workerListTtlMs) return cached.reading;
    const reading = connectedBullmqWorkers(this.redis, this.keys);
    this.workerList = { at: now, reading };
    return reading;
  }

  async decode(raw: unknown, now: number): Promise<QueueSnapshot> {
    const keys = this.keys;
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
    ] = raw as SampleReply;
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
    await this.readEvents(stream);
    // qscale telemetry: a live heartbeat, or histograms that instrumented workers wrote.
    const instrumented =
      totals.live > 0 ||
      processing.completed.count + processing.failed.count + waitHistogram.count > 0;
    this.instrumented = instrumented;
    const backlog = wait! + paused! + prioritized! + due!;
    const base = {
      queue: keys.queue,
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
    const connected = await this.connectedWorkers(now);
    const live = connected.count ?? 0;
    const histograms = this.derived.snapshot();
    return {
      ...base,
      telemetry: 'derived',
      derived: {
        from: "BullMQ's events stream (completed/failed) and finished jobs' times; workers from BullMQ's worker list (CLIENT LIST); busy slots from the active list",
        workersKnown: connected.count !== null,
        workerNames: connected.count === null ? [] : connected.names.slice(0, 100),
        concurrencyEstimated: true,
        eventsMissed: this.derived.missedEvents,
      },
      workers: [],
      workerTotals: this.derived.totals(now, live, active!, backlog),
      ...histograms,
    };
  }
}
