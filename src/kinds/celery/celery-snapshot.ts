import type { QueueSnapshot } from '../../queue/queue-snapshot.js';
import type { CeleryEventState } from './celery-event-state.js';
import { parseCelerySample, type CelerySampleReply } from './celery-sample.js';

/** Where a Celery queue's numbers come from (the metric help, the page, `doctor`). */
export const CELERY_DERIVED_FROM =
  "Celery's queue lists (and priority lists) and kombu's unacked hash in Redis; processed tasks, their processing and wait time, live workers and busy slots from Celery's events (workers with -E / worker_send_task_events; wait time and the task → queue mapping need task_send_sent_event in the app that sends tasks); concurrency estimated from the most tasks a worker ran at once";

/**
 * What the sidecar keeps between samples of one Celery queue: when it first saw each message at
 * a list's tail (the oldest message's age when no task-sent event gave its time) and the arrivals
 * counted without task-sent events.
 */
export class CeleryQueueState {
  private tailSeen = new Map<string, number>();
  private firstInFlight?: number;
  private finishedAtFirst = 0;
  private arrivals = 0;

  /** Age basis of the oldest tail message, epoch ms; undefined when no list has messages. */
  oldest(now: number, tailIds: readonly string[], events: CeleryEventState): number | undefined {
    const seen = new Map<string, number>();
    let oldest: number | undefined;
    for (const id of tailIds) {
      const at = events.sentAt(id) ?? this.tailSeen.get(id) ?? now;
      seen.set(id, this.tailSeen.get(id) ?? now);
      oldest = oldest === undefined ? at : Math.min(oldest, at);
    }
    this.tailSeen = seen;
    return oldest;
  }

  /**
   * Tasks added since the first sample: task-sent events when producers send them; else what is
   * in flight now plus what finished since, less what was in flight at the first sample (a
   * running maximum, as for RQ).
   */
  countArrivals(sent: number, inFlight: number, finished: number): number {
    if (sent > 0) return sent;
    if (this.firstInFlight === undefined) {
      this.firstInFlight = inFlight;
      this.finishedAtFirst = finished;
    }
    this.arrivals = Math.max(
      this.arrivals,
      inFlight + finished - this.finishedAtFirst - this.firstInFlight,
    );
    return this.arrivals;
  }
}

/**
 * One Celery queue's snapshot from its sample reply and the events so far:
 * - backlog: the queue's list and its priority lists (what kombu's `_size` answers, and what a
 *   worker would take next); `counts.wait` the list of priority 0, `counts.prioritized` the others;
 * - `counts.active`: messages workers hold (prefetched, or running under `task_acks_late`) together
 *   with tasks the events show running; `counts.delayed`: held messages with an ETA/countdown;
 * - worker numbers from the events. Celery workers send heartbeats with or without `-E`, but only
 *   task events tell which queue a worker serves: until a task event was seen, `workersKnown` is
 *   false.
 */
export function celerySnapshot(
  queue: string,
  now: number,
  reply: CelerySampleReply,
  events: CeleryEventState,
  state: CeleryQueueState,
  maxWorkers: number,
): QueueSnapshot {
  const sample = parseCelerySample(reply);
  events.learnQueue(
    queue,
    sample.held.map((m) => m.id),
  );
  const { workers, totals, names } = events.queueWorkers(queue);
  const seen = events.seen();
  const histograms = events.histograms(queue);
  // Held and running overlap under task_acks_late: count each task once.
  const running = events.runningIds();
  let held = 0;
  let both = 0;
  for (const m of sample.held) {
    if (m.eta) continue;
    held++;
    if (running.has(m.id)) both++;
  }
  const active = held + totals.busy - both;
  const delayed = sample.held.length - held;
  const backlog = sample.waiting + sample.prioritized;
  const oldest = state.oldest(now, sample.tailIds, events);
  const finished = histograms.processing.completed.count + histograms.processing.failed.count;
  return {
    queue,
    prefix: 'celery',
    kind: 'celery',
    sampledAt: now,
    counts: {
      wait: sample.waiting,
      paused: 0,
      prioritized: sample.prioritized,
      active,
      delayed,
      'waiting-children': 0,
      completed: histograms.processing.completed.count,
      failed: histograms.processing.failed.count,
    },
    delayedDue: 0,
    backlog,
    oldestJobAgeSeconds: oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000),
    paused: false,
    enqueuedTotal: state.countArrivals(histograms.sent, backlog + active + delayed, finished),
    telemetry: 'derived',
    derived: {
      from: CELERY_DERIVED_FROM,
      workersKnown: seen.taskEvents,
      workerNames: names,
      concurrencyEstimated: true,
      eventsMissed: 0,
    },
    workers: workers.slice(0, maxWorkers),
    workerTotals: totals,
    processing: histograms.processing,
    wait: histograms.wait,
  };
}
