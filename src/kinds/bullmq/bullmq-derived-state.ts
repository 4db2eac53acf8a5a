import {
  copyHistograms,
  emptyHistogram,
  observe,
  type DerivedHistograms,
} from '../../queue/derived-histograms.js';
import type { WorkerTotals } from '../../queue/queue-snapshot.js';

/** The stream id just after `id` (`<ms>-<seq + 1>`), for an inclusive XRANGE start. */
export function nextStreamId(id: string): string {
  const [ms, seq] = id.split('-');
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
}

const streamMs = (id: string): number => Number(id.split('-')[0]);

/** Orders two stream ids (`<ms>-<seq>`): negative, 0 or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const ms = BigInt(am ?? '0') - BigInt(bm ?? '0');
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as ?? '0') - BigInt(bs ?? '0');
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

const num = (value: string | undefined): number | undefined => {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
};

/** How long the concurrency estimate remembers a saturated moment. */
const CONCURRENCY_MEMORY_MS = 10 * 60_000;
/** Jobs whose `active` event was seen but that have not finished, at most. */
const ACTIVE_STARTS_LIMIT = 50_000;

/**
 * One finished-job event of BullMQ's events stream as the sample script returns it:
 * `[id, 'completed' | 'failed', jobId, processedOn, finishedOn, timestamp, delay, ats]`, or
 * `[id, 'active', jobId]`. Empty strings stand for fields the job no longer has (removed).
 */
export type BullmqEvent = string[];

/** One read of a queue's events stream, as the sampler's `readEvents` script answers it. */
export interface EventsRead {
  /** The last id read; '' when nothing new was read. */
  cursor: string;
  events: readonly BullmqEvent[];
  /** Entries read; -1 when the cursor was set to the stream's newest id without reading. */
  read: number;
  /** XINFO STREAM before the read. */
  stream: {
    /** `entries-added`: entries ever added ('' before Redis 7). */
    added: string;
    length: number;
    /** The oldest entry's id ('' when empty). */
    first: string;
    /** `last-generated-id`. */
    last: string;
  };
}

/**
 * The state a sidecar keeps to derive a BullMQ queue's worker numbers when its workers run without
 * qscale telemetry: a cursor in the queue's events stream, the histograms and counters of the jobs
 * that finished since the sidecar started, and the concurrency estimate. Counters start at 0 when
 * the sidecar starts (as a Prometheus counter does); history before that is not replayed.
 */
export class BullmqDerivedState {
  /** The last events-stream id read; undefined until the first sample. */
  cursor?: string;
  private readonly histograms: DerivedHistograms = {
    processing: { completed: emptyHistogram(), failed: emptyHistogram() },
    wait: emptyHistogram(),
  };
  private readonly activeStarts = new Map<string, number>();
  private saturation: { at: number; perWorker: number }[] = [];

  constructor(private readonly bounds: readonly number[]) {}

  /** The XRANGE start for the next read: after the cursor ('' on the first read). */
  nextStart(): string {
    return this.cursor === undefined ? '' : nextStreamId(this.cursor);
  }

  /**
   * Events trimmed from the stream before the sidecar read them (finished jobs it never counted),
   * counted exactly on Redis ≥ 7 from XINFO's `entries-added`: whenever the stream no longer holds
   * the cursor's entry, the entries added after the cursor less those still in the stream.
   */
  missedEvents = 0;
  /** `entries-added` up to and including the cursor; undefined when unknown (Redis < 7). */
  private addedAtCursor?: bigint;

  /** Takes one read of the events stream (see the sampler's `readEvents`). */
  ingest(read: EventsRead): void {
    const { cursor, events, stream } = read;
    const added = stream.added === '' ? undefined : BigInt(stream.added);
    if (read.read < 0 || this.cursor === undefined) {
      // The cursor is set to the stream's newest id: everything added so far is behind it.
      this.addedAtCursor = added;
    } else if (added !== undefined && this.addedAtCursor !== undefined) {
      if (stream.first !== '' && compareStreamIds(stream.first, this.cursor) > 0) {
        // The cursor's entry is gone: what was added after it and is not in the stream was lost.
        const lost = added - this.addedAtCursor - BigInt(stream.length);
        if (lost > 0n) this.missedEvents += Number(lost);
        this.addedAtCursor = added - BigInt(stream.length);
      }
      this.addedAtCursor += BigInt(read.read);
    }
    this.cursor = read.read < 0 ? stream.last : cursor || this.cursor;
    for (const event of events) {
      const [id, type, jobId] = event;
      if (!id || !jobId) continue;
      if (type === 'active') {
        if (this.activeStarts.size >= ACTIVE_STARTS_LIMIT) {
          // Forget the oldest start (Map keeps insertion order).
          this.activeStarts.delete(this.activeStarts.keys().next().value!);
        }
        this.activeStarts.set(jobId, streamMs(id));
        continue;
      }
      if (type !== 'completed' && type !== 'failed') continue;
      const [, , , processedOn, finishedOn, timestamp, delay, startedAttempts] = event.map(num);
      const activeAt = this.activeStarts.get(jobId);
      this.activeStarts.delete(jobId);
      let seconds: number | undefined;
      if (processedOn !== undefined && finishedOn !== undefined) {
        seconds = (finishedOn - processedOn) / 1000;
      } else if (activeAt !== undefined) {
        // Removed on completion: the two events' stream ids are Redis server times in ms.
        seconds = (streamMs(id) - activeAt) / 1000;
      }
      // A job whose start was before the sidecar's first read and whose record is gone has no
      // known duration: it is not counted.
      if (seconds === undefined) continue;
      observe(this.histograms.processing[type], seconds, this.bounds);
      if (processedOn !== undefined && timestamp !== undefined && startedAttempts === 1) {
        observe(this.histograms.wait, (processedOn - timestamp - (delay ?? 0)) / 1000, this.bounds);
      }
    }
  }

  /** Copies of the cumulative histograms. */
  snapshot(): DerivedHistograms {
    return copyHistograms(this.histograms);
  }

  /**
   * The concurrency per worker as far as it can be told: the most active jobs per connected worker
   * seen while jobs waited (the workers were saturated then), over the last 10 minutes; else the
   * active jobs per worker now; at least 1.
   */
  estimateConcurrency(now: number, live: number, active: number, backlog: number): number {
    const perWorker = live > 0 ? Math.ceil(active / live) : 0;
    this.saturation = this.saturation.filter((s) => s.at > now - CONCURRENCY_MEMORY_MS);
    if (backlog > 0 && perWorker > 0) this.saturation.push({ at: now, perWorker });
    if (this.saturation.length > 600) this.saturation.shift();
    const saturated = Math.max(0, ...this.saturation.map((s) => s.perWorker));
    return Math.max(1, saturated, perWorker);
  }

  /** Worker totals from the connected workers and the active list (derived). */
  totals(now: number, live: number, active: number, backlog: number): WorkerTotals {
    const perWorker = this.estimateConcurrency(now, live, active, backlog);
    const concurrency = live * perWorker;
    const busy = live > 0 ? active : 0;
    return {
      live,
      busyWorkers: Math.min(live, busy),
      busy,
      concurrency,
      utilization: concurrency > 0 ? Math.min(1, busy / concurrency) : 0,
      completed: this.histograms.processing.completed.count,
      failed: this.histograms.processing.failed.count,
    };
  }
}
