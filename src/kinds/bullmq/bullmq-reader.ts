import { parseHistogram } from '../../queue/histogram-fields.js';
import type { QueueKeys } from '../../queue/queue-keys.js';
import type {
  HistogramSnapshot,
  QueueSnapshot,
  WorkerSnapshot,
  WorkerTotals,
} from '../../queue/queue-snapshot.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import type { QueueReader, ReaderOptions } from '../driver.js';
import { BullmqDerivedState } from './bullmq-derived-state.js';
import {
  CATCH_UP_EVENTS,
  STALE_LIMIT,
  toTotals,
  toWorker,
  type EventsReply,
  type Flags,
  type SampleReply,
} from './bullmq-sample.js';
import { connectedBullmqWorkers, type ConnectedWorkers } from './bullmq-workers.js';

type BullmqRedis = RedisClient & {
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

/**
 * What the reader reuses of an unchanged queue at most this long, in ms: a bound for writers that
 * change a queue without an event (BullMQ's `drain`) or workers of a version that keeps no `rev`.
 */
export const MAX_REUSE_MS = 10_000;

/** The counts part of a read, parsed, with the events stream's last id and until when it stands. */
interface CountsPart {
  counts: number[];
  enqueued: number;
  blobBytes: number;
  eventId: string;
  until: number;
}

/** The workers part of a read, parsed, with the totals' rev and until when it stands. */
interface WorkersPart {
  workers: WorkerSnapshot[];
  totals: WorkerTotals;
  processing: { completed: HistogramSnapshot; failed: HistogramSnapshot };
  wait: HistogramSnapshot;
  rev: string;
  until: number;
}

/** Defines the events catch-up script on a connection once. */
function defineCatchUp(redis: RedisClient): void {
  const r = redis as RedisClient & Record<string, unknown>;
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
  /** The events cursor fell behind while the workers had telemetry: start it afresh if needed. */
  private cursorStale = false;
  private countsPart?: CountsPart;
  private workersPart?: WorkersPart;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly options: ReaderOptions,
  ) {
    defineCatchUp(redis);
    this.derived = new BullmqDerivedState(options.buckets);
  }

  args(): { keys: string[]; args: (string | number)[] } {
    return {
      keys: [this.keys.bull('')],
      args: [
        this.instrumented === false && this.cursorStale ? '' : this.derived.nextStart(),
        this.instrumented === false ? MAX_EVENTS : 0,
        this.workersPart?.rev ?? '',
        this.workersPart?.until ?? 0,
        this.countsPart?.eventId ?? '',
        this.countsPart?.until ?? 0,
      ],
    };
  }

  sharedArgs(now: number): (string | number)[] {
    return [now, this.options.maxWorkers, STALE_LIMIT];
  }

  /**
   * Takes a sample's share of the events stream; when it filled MAX_EVENTS (the stream runs ahead
   * of the sidecar), reads on, at most CATCH_UP_ROUNDS more times, one bounded script each.
   */
  private async readEvents(reply: EventsReply): Promise<void> {
    let [cursor, events, read, stream] = reply;
    if (read === -2) {
      // Not read (workers with telemetry): should they go, the cursor starts again at the newest.
      this.cursorStale = true;
      return;
    }
    this.cursorStale = false;
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

  /** Parses what the read read again; keeps the rest as the last read found it. */
  private parts(reply: SampleReply, now: number): { counts: CountsPart; workers: WorkersPart } {
    const [countsRead, workersRead, rev, nextDue, nextExpiry, eventId] = reply[9];
    const until = (next: number) => Math.min(next >= 0 ? next : Infinity, now + MAX_REUSE_MS);
    if (countsRead || !this.countsPart) {
      this.countsPart = {
        counts: reply[0].map(Number),
        enqueued: Number(reply[1]) || 0,
        blobBytes: Number(reply[8]) || 0,
        eventId,
        until: until(nextDue),
      };
    } else {
      this.countsPart.eventId = eventId;
    }
    if (workersRead || !this.workersPart) {
      const list = reply[2];
      const workers: WorkerSnapshot[] = [];
      for (let i = 0; i + 1 < list.length; i += 2) {
        const worker = toWorker(list[i] as string, list[i + 1] as string[]);
        if (worker) workers.push(worker);
      }
      this.workersPart = {
        workers,
        totals: toTotals(reply[6]),
        processing: { completed: parseHistogram(reply[3]), failed: parseHistogram(reply[4]) },
        wait: parseHistogram(reply[5]),
        rev,
        until: until(nextExpiry),
      };
    }
    return { counts: this.countsPart, workers: this.workersPart };
  }

  async decode(raw: unknown, now: number): Promise<QueueSnapshot> {
    const keys = this.keys;
    // The flags alone: nothing was read again, no event wanted.
    const reply: SampleReply =
      (raw as unknown[]).length === 6
        ? [[], '', [], [], [], [], [0, [], []], ['', [], -2, ['', 0, '', '']], '', raw as Flags]
        : (raw as SampleReply);
    const { counts: countsPart, workers: workersPart } = this.parts(reply, now);
    const counts = countsPart.counts;
    const [wait, paused, prioritized, active, delayed, children, completed, failed, due, oldest] =
      counts;
    const { workers, totals, processing, wait: waitHistogram } = workersPart;
    const stream = reply[7];
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
      enqueuedTotal: countsPart.enqueued,
      blobBytes: countsPart.blobBytes,
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
