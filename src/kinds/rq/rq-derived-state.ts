import {
  copyHistograms,
  emptyHistogram,
  observe,
  type DerivedHistograms,
} from '../../queue/derived-histograms.js';
import type { WorkerSnapshot } from '../../queue/queue-snapshot.js';
import { parseRqTime } from './rq-job-fields.js';

/**
 * One RQ registry entry read since the cursor: `[jobId, score, enqueued_at, started_at, ended_at]`
 * (ISO times as RQ writes them, '' when the job is gone).
 */
export type RqFinishedEntry = string[];

/** A sorted-set score as Redis writes it (`inf`, `-inf` or a number). */
function parseScore(text: string): number {
  if (text === 'inf' || text === '+inf') return Infinity;
  if (text === '-inf') return -Infinity;
  return Number(text);
}

/** Where the read of one RQ registry (finished or failed) has got to. */
class RegistryCursor {
  /** The highest score read; undefined before the first read. */
  score?: number;
  /** Ids already counted at exactly {@link score} (RQ scores are whole seconds). */
  private seen = new Set<string>();

  /** ZRANGEBYSCORE start ('' on the first read: the script answers the newest score). */
  start(): string {
    if (this.score === undefined) return '';
    if (this.score === Infinity) return '+inf';
    if (this.score === -Infinity) return '-inf';
    return String(this.score);
  }

  /** How many more entries to ask for, to get past the ones already seen. */
  get extra(): number {
    return this.seen.size;
  }

  /**
   * The first read: start after the newest entries (`newest` is their score, '' for an empty
   * registry), so that history is not counted.
   */
  begin(newest: string, entries: readonly RqFinishedEntry[]): void {
    this.score = newest === '' ? -Infinity : parseScore(newest);
    this.seen = new Set(entries.map((entry) => entry[0]!));
  }

  /** The entries not counted before, in score order; advances the cursor past them. */
  take(entries: readonly RqFinishedEntry[]): RqFinishedEntry[] {
    const fresh: RqFinishedEntry[] = [];
    for (const entry of entries) {
      const id = entry[0]!;
      const score = parseScore(entry[1]!);
      if (Number.isNaN(score)) continue;
      if (score === this.score) {
        if (this.seen.has(id)) continue;
      } else if (this.score === undefined || score > this.score) {
        this.score = score;
        this.seen = new Set();
      } else {
        continue;
      }
      this.seen.add(id);
      fresh.push(entry);
    }
    return fresh;
  }
}

/** One RQ worker's hash as the sample script returns it. */
export interface RqWorkerRecord {
  /** The worker's name (its key without `rq:worker:`). */
  name: string;
  state: string;
  currentJob: string;
  successful: number;
  failed: number;
  /** Seconds spent on finished jobs (RQ's `total_working_time`). */
  totalWorkingTime: number;
  lastHeartbeat: number;
  birth: number;
  /** When the current job started (epoch ms), when there is one. */
  currentJobStartedAt?: number;
  /** The current job's queue (its `origin`). */
  currentJobQueue?: string;
}

const SAFE_WORKER_NAME = /^[A-Za-z0-9_.:@-]{1,128}$/;

/**
 * The state a sidecar keeps to derive an RQ queue's numbers: cursors in the finished and failed
 * registries, the histograms and counters of the jobs finished since the sidecar started, the
 * arrivals counted from the changes of the queue, and each worker's busy seconds over the
 * utilization window.
 */
export class RqDerivedState {
  readonly finished = new RegistryCursor();
  readonly failed = new RegistryCursor();
  private readonly histograms: DerivedHistograms = {
    processing: { completed: emptyHistogram(), failed: emptyHistogram() },
    wait: emptyHistogram(),
  };
  private enqueued = 0;
  private finishedTotal = 0;
  private firstInFlight?: number;
  private readonly busyPoints = new Map<string, { at: number; busySeconds: number }[]>();

  constructor(
    private readonly bounds: readonly number[],
    private readonly utilizationWindowMs: number,
  ) {}

  /** Takes the entries read from the two registries since their cursors. */
  ingest(finished: readonly RqFinishedEntry[], failed: readonly RqFinishedEntry[]): number {
    let count = 0;
    for (const [cursor, entries, outcome] of [
      [this.finished, finished, 'completed'],
      [this.failed, failed, 'failed'],
    ] as const) {
      for (const entry of cursor.take(entries)) {
        count++;
        const enqueuedAt = parseRqTime(entry[2]);
        const startedAt = parseRqTime(entry[3]);
        const endedAt = parseRqTime(entry[4]);
        // A job whose hash is gone (deleted meanwhile) has no known duration: not counted.
        if (startedAt === undefined || endedAt === undefined) continue;
        observe(this.histograms.processing[outcome], (endedAt - startedAt) / 1000, this.bounds);
        if (enqueuedAt !== undefined && startedAt !== undefined) {
          observe(this.histograms.wait, (startedAt - enqueuedAt) / 1000, this.bounds);
        }
      }
    }
    return count;
  }

  /**
   * Jobs added to the queue since the first sample (RQ keeps no counter of its own): waiting +
   * started now, plus every job finished since, less waiting + started at the first sample. Kept
   * as a running maximum, so that a job between RQ's dequeue and its started registry (in neither
   * for a moment) is not counted twice.
   */
  countArrivals(inFlight: number, finishedSinceLast: number): number {
    this.finishedTotal += finishedSinceLast;
    this.firstInFlight ??= inFlight;
    this.enqueued = Math.max(this.enqueued, inFlight + this.finishedTotal - this.firstInFlight);
    return this.enqueued;
  }

  snapshot(): DerivedHistograms {
    return copyHistograms(this.histograms);
  }

  /**
   * Per-worker snapshots of an RQ queue's live workers: each runs one job at a time; busy when
   * its current job belongs to this queue; utilization = busy seconds over the utilization window
   * (RQ's `total_working_time` plus the running job's elapsed time).
   */
  workers(queue: string, now: number, records: readonly RqWorkerRecord[]): WorkerSnapshot[] {
    const out: WorkerSnapshot[] = [];
    const alive = new Set<string>();
    for (const r of records) {
      if (!SAFE_WORKER_NAME.test(r.name)) continue;
      alive.add(r.name);
      const running = r.state === 'busy' && r.currentJob !== '';
      const mine = running && (r.currentJobQueue === undefined || r.currentJobQueue === queue);
      const runningSeconds =
        running && r.currentJobStartedAt !== undefined
          ? Math.max(0, (now - r.currentJobStartedAt) / 1000)
          : 0;
      const busySeconds = r.totalWorkingTime + runningSeconds;
      const points = this.busyPoints.get(r.name) ?? [];
      points.push({ at: now, busySeconds });
      while (points.length > 2 && points[1]!.at <= now - this.utilizationWindowMs) points.shift();
      this.busyPoints.set(r.name, points);
      const first = points[0]!;
      const span = (now - first.at) / 1000;
      const utilization =
        span > 0
          ? Math.min(1, Math.max(0, (busySeconds - first.busySeconds) / span))
          : running
            ? 1
            : 0;
      out.push({
        id: r.name,
        concurrency: 1,
        busy: mine ? 1 : 0,
        busySeconds,
        utilization,
        completed: r.successful,
        failed: r.failed,
        startedAt: r.birth,
        heartbeatAt: r.lastHeartbeat,
        oldestJobStartedAt: mine ? (r.currentJobStartedAt ?? 0) : 0,
      });
    }
    for (const name of this.busyPoints.keys()) if (!alive.has(name)) this.busyPoints.delete(name);
    return out.sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
  }
}
