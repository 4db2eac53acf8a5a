import { bucketFor } from '../../queue/histogram-fields.js';
import type {
  HistogramSnapshot,
  WorkerSnapshot,
  WorkerTotals,
} from '../../queue/queue-snapshot.js';
import type { CeleryEvent } from './celery-events.js';

/** Tasks remembered at most (sent, received or started, not finished); the oldest go first. */
const MAX_TASKS = 50_000;
/** Workers remembered at most. */
const MAX_WORKERS = 10_000;
/** Queues with numbers at most. */
const MAX_QUEUES = 1000;
/** How long a worker's peak of running tasks counts for the concurrency estimate. */
const PEAK_MEMORY_MS = 10 * 60_000;
/** A worker not heard of for this long is forgotten. */
const FORGET_MS = 10 * 60_000;
/** Celery's default heartbeat interval (`worker_heartbeat` / `--heartbeat-interval`), seconds. */
const DEFAULT_FREQ = 2;

const SAFE_NAME = /^[A-Za-z0-9_.:@-]{1,200}$/;

function emptyHistogram(): HistogramSnapshot {
  return { count: 0, sum: 0, buckets: new Map() };
}

function copy(histogram: HistogramSnapshot): HistogramSnapshot {
  return { count: histogram.count, sum: histogram.sum, buckets: new Map(histogram.buckets) };
}

interface TaskRecord {
  queue?: string;
  /** The task's name (`module.function`), from task-sent or task-received. */
  name?: string;
  /** task-sent's timestamp, epoch ms (the producer's clock). */
  sentAt?: number;
  /** The ETA/countdown, epoch ms: the task was not meant to run before. */
  etaAt?: number;
  /** task-started's timestamp, epoch ms (the worker's clock). */
  startedAt?: number;
  worker?: string;
}

/** One failed task as task-failed told it. */
export interface CeleryFailure {
  id: string;
  name: string | null;
  /** The exception (`ValueError('…')`). */
  error: string | null;
  /** Epoch ms (the worker's clock). */
  failedAt: number;
}

/** Failed tasks remembered per queue, newest last. */
const MAX_FAILURES = 100;

interface QueueNumbers {
  failures: CeleryFailure[];
  completed: HistogramSnapshot;
  failed: HistogramSnapshot;
  wait: HistogramSnapshot;
  sent: number;
}

interface WorkerRecord {
  hostname: string;
  /** Heartbeat interval, seconds. */
  freq: number;
  /** When the sidecar last heard of it, epoch ms (local clock). */
  seenAt: number;
  /** When the sidecar first heard of it (or its worker-online), epoch ms. */
  onlineAt: number;
  /** Tasks running at its last heartbeat, every queue's. */
  active: number;
  /** Whether any worker event (heartbeat, online) came from it, not only task events. */
  heartbeats: boolean;
  /** Tasks it started and did not finish: uuid → started (epoch ms, its clock). */
  running: Map<string, number>;
  /** Queues it ran tasks of. */
  queues: Set<string>;
  /** Per queue: tasks finished and busy seconds of finished tasks. */
  perQueue: Map<string, { completed: number; failed: number; busySeconds: number }>;
  /** Peaks of running tasks, for the concurrency estimate. */
  peaks: { at: number; running: number }[];
}

/** What a queue's workers look like from the events. */
export interface CeleryQueueWorkers {
  workers: WorkerSnapshot[];
  totals: WorkerTotals;
  /** Names of the live workers of the queue, at most 100. */
  names: string[];
}

/** What the event stream has shown so far, for `doctor` and `status`. */
export interface CeleryEventsSeen {
  /**
   * Worker heartbeats (or worker-online) seen since the sidecar started. Celery workers send
   * these whether or not they send task events (`-E`).
   */
  heartbeats: boolean;
  /** Task events from workers (task-received, task-started) seen: workers run with `-E`. */
  taskEvents: boolean;
  /** Live workers of any queue now. */
  liveWorkers: number;
  /** task-sent events seen (producers set `task_send_sent_event`). */
  sent: boolean;
  /** Tasks that finished whose queue could not be told (no task-sent; see the class doc). */
  unattributed: number;
}

/**
 * What the Celery events of one Redis database say, for every Celery queue on it: the listener
 * feeds it every event; each sample asks it for one queue's numbers. Counters start at 0 when the
 * sidecar starts, as Prometheus counters do.
 *
 * Which queue a task belongs to: its task-sent event names it (`queue`); a held message the
 * sampler saw in `unacked` names it too; else, when the worker that ran it has run tasks of exactly
 * one queue, that queue. Celery's events do not say which queues a worker consumes: a worker
 * counts for a queue once it has run one of its tasks.
 */
export class CeleryEventState {
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly workers = new Map<string, WorkerRecord>();
  private readonly queues = new Map<string, QueueNumbers>();
  private heartbeats = false;
  private taskEvents = false;
  private sent = false;
  private unattributed = 0;

  constructor(
    private readonly bounds: readonly number[],
    private readonly now: () => number = Date.now,
  ) {}

  private numbers(queue: string): QueueNumbers | undefined {
    let numbers = this.queues.get(queue);
    if (!numbers && this.queues.size < MAX_QUEUES) {
      numbers = {
        failures: [],
        completed: emptyHistogram(),
        failed: emptyHistogram(),
        wait: emptyHistogram(),
        sent: 0,
      };
      this.queues.set(queue, numbers);
    }
    return numbers;
  }

  private observe(histogram: HistogramSnapshot, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const value = Math.max(0, seconds);
    const bound = bucketFor(value, this.bounds);
    histogram.count += 1;
    histogram.sum += value;
    histogram.buckets.set(bound, (histogram.buckets.get(bound) ?? 0) + 1);
  }

  private task(uuid: string): TaskRecord {
    let task = this.tasks.get(uuid);
    if (!task) {
      if (this.tasks.size >= MAX_TASKS) this.tasks.delete(this.tasks.keys().next().value!);
      task = {};
      this.tasks.set(uuid, task);
    }
    return task;
  }

  private worker(hostname: string, at: number): WorkerRecord | undefined {
    let worker = this.workers.get(hostname);
    if (!worker) {
      if (!SAFE_NAME.test(hostname)) return undefined;
      if (this.workers.size >= MAX_WORKERS) this.forget(at);
      if (this.workers.size >= MAX_WORKERS) return undefined;
      worker = {
        hostname,
        freq: DEFAULT_FREQ,
        seenAt: at,
        onlineAt: at,
        active: 0,
        heartbeats: false,
        running: new Map(),
        queues: new Set(),
        perQueue: new Map(),
        peaks: [],
      };
      this.workers.set(hostname, worker);
    }
    worker.seenAt = at;
    return worker;
  }

  private forget(at: number): void {
    for (const [name, worker] of this.workers) {
      if (at - worker.seenAt > FORGET_MS) this.workers.delete(name);
    }
  }

  /** The queue of a task: its own, else its worker's only queue. */
  private queueOf(
    task: TaskRecord | undefined,
    worker: WorkerRecord | undefined,
  ): string | undefined {
    if (task?.queue !== undefined) return task.queue;
    if (worker && worker.queues.size === 1) return worker.queues.values().next().value;
    return undefined;
  }

  private notePeak(worker: WorkerRecord, at: number): void {
    const running = Math.max(worker.active, worker.running.size);
    worker.peaks = worker.peaks.filter((p) => p.at > at - PEAK_MEMORY_MS);
    if (running > 0) worker.peaks.push({ at, running });
    if (worker.peaks.length > 600) worker.peaks.shift();
  }

  /** Tasks of `queue` seen held in `unacked` by a sample: their queue is known from now on. */
  learnQueue(queue: string, ids: readonly string[]): void {
    for (const id of ids) {
      const known = this.tasks.get(id);
      if (known) known.queue ??= queue;
      else this.task(id).queue = queue;
    }
  }

  /** task-sent's time of a task (epoch ms), when the sidecar saw it. */
  sentAt(uuid: string): number | undefined {
    return this.tasks.get(uuid)?.sentAt;
  }

  /** Takes one event. */
  ingest(event: CeleryEvent): void {
    const at = this.now();
    const ms = event.timestamp * 1000;
    const uuid = typeof event.uuid === 'string' && event.uuid !== '' ? event.uuid : undefined;
    switch (event.type) {
      case 'task-sent': {
        if (!uuid) return;
        this.sent = true;
        const task = this.task(uuid);
        const queue =
          typeof event.queue === 'string' && event.queue ? event.queue : event.routing_key;
        if (typeof queue === 'string' && queue !== '') {
          task.queue = queue;
          const numbers = this.numbers(queue);
          if (numbers) numbers.sent++;
        }
        task.sentAt = ms;
        if (typeof event.name === 'string') task.name = event.name;
        const eta = typeof event.eta === 'string' ? Date.parse(event.eta) : NaN;
        if (Number.isFinite(eta)) task.etaAt = eta;
        return;
      }
      case 'task-received': {
        if (!uuid) return;
        this.taskEvents = true;
        const task = this.task(uuid);
        task.worker = event.hostname;
        if (typeof event.name === 'string') task.name = event.name;
        const eta = typeof event.eta === 'string' ? Date.parse(event.eta) : NaN;
        if (Number.isFinite(eta)) task.etaAt = eta;
        this.worker(event.hostname, at);
        return;
      }
      case 'task-started': {
        if (!uuid) return;
        this.taskEvents = true;
        const task = this.task(uuid);
        task.startedAt = ms;
        task.worker = event.hostname;
        const worker = this.worker(event.hostname, at);
        if (!worker) return;
        worker.running.set(uuid, ms);
        if (task.queue !== undefined) worker.queues.add(task.queue);
        this.notePeak(worker, at);
        const queue = this.queueOf(task, worker);
        const numbers = queue === undefined ? undefined : this.numbers(queue);
        if (numbers && task.sentAt !== undefined) {
          // The wait in the queue, not the ETA/countdown the producer asked for.
          const from = Math.max(task.sentAt, task.etaAt ?? 0);
          this.observe(numbers.wait, (ms - from) / 1000);
        }
        return;
      }
      case 'task-succeeded':
      case 'task-failed': {
        if (!uuid) return;
        const task = this.tasks.get(uuid);
        this.tasks.delete(uuid);
        const worker = this.worker(event.hostname, at);
        const startedAt = worker?.running.get(uuid) ?? task?.startedAt;
        worker?.running.delete(uuid);
        const seconds =
          event.type === 'task-succeeded' && Number.isFinite(Number(event.runtime))
            ? Number(event.runtime)
            : startedAt !== undefined
              ? (ms - startedAt) / 1000
              : undefined;
        const queue = this.queueOf(task, worker);
        if (queue === undefined) {
          this.unattributed++;
          return;
        }
        worker?.queues.add(queue);
        const numbers = this.numbers(queue);
        if (!numbers) return;
        const outcome = event.type === 'task-succeeded' ? 'completed' : 'failed';
        if (outcome === 'failed') {
          numbers.failures.push({
            id: uuid,
            name: task?.name ?? null,
            error: typeof event.exception === 'string' ? event.exception.slice(0, 500) : null,
            failedAt: Math.floor(ms),
          });
          if (numbers.failures.length > MAX_FAILURES) numbers.failures.shift();
        }
        // A task whose start the sidecar did not see has no known duration: not counted.
        if (seconds === undefined) return;
        this.observe(numbers[outcome], seconds);
        if (worker) {
          const mine = worker.perQueue.get(queue) ?? { completed: 0, failed: 0, busySeconds: 0 };
          mine[outcome]++;
          mine.busySeconds += Math.max(0, seconds);
          worker.perQueue.set(queue, mine);
        }
        return;
      }
      case 'task-retried':
      case 'task-rejected':
      case 'task-revoked': {
        // A retried attempt is not a final outcome (it runs again under the same id): not counted.
        if (!uuid) return;
        this.workers.get(event.hostname)?.running.delete(uuid);
        if (event.type !== 'task-retried') this.tasks.delete(uuid);
        return;
      }
      case 'worker-online':
      case 'worker-heartbeat': {
        const worker = this.worker(event.hostname, at);
        if (!worker) return;
        this.heartbeats = true;
        worker.heartbeats = true;
        const freq = Number(event.freq);
        if (Number.isFinite(freq) && freq > 0) worker.freq = freq;
        const active = Number(event.active);
        if (Number.isInteger(active) && active >= 0) {
          worker.active = active;
          // Started events lost (the sidecar reconnected): forget the oldest starts beyond what
          // the worker says it runs, those that began before this heartbeat.
          if (worker.running.size > active) {
            const oldest = [...worker.running].sort((a, b) => a[1] - b[1]);
            for (const [id, startedAt] of oldest) {
              if (worker.running.size <= active || startedAt > ms) break;
              worker.running.delete(id);
            }
          }
        }
        if (event.type === 'worker-online') worker.onlineAt = at;
        this.notePeak(worker, at);
        return;
      }
      case 'worker-offline':
        this.workers.delete(event.hostname);
        return;
      default:
    }
  }

  private alive(worker: WorkerRecord, at: number): boolean {
    // Celery's own rule (`celery.events.state.heartbeat_expires`): two heartbeat intervals.
    return worker.heartbeats && at - worker.seenAt <= 2 * worker.freq * 1000;
  }

  /** The processing and wait histograms of `queue` (copies) and the tasks sent to it. */
  histograms(queue: string): {
    processing: { completed: HistogramSnapshot; failed: HistogramSnapshot };
    wait: HistogramSnapshot;
    sent: number;
  } {
    const numbers = this.queues.get(queue);
    return {
      processing: {
        completed: copy(numbers?.completed ?? emptyHistogram()),
        failed: copy(numbers?.failed ?? emptyHistogram()),
      },
      wait: copy(numbers?.wait ?? emptyHistogram()),
      sent: numbers?.sent ?? 0,
    };
  }

  /** The live workers of `queue` and their busy slots, as far as the events tell. */
  queueWorkers(queue: string): CeleryQueueWorkers {
    const at = this.now();
    this.forget(at);
    const workers: WorkerSnapshot[] = [];
    const numbers = this.queues.get(queue);
    for (const worker of this.workers.values()) {
      if (!this.alive(worker, at)) continue;
      let busy = 0;
      let oldest = 0;
      let runningSeconds = 0;
      for (const [id, startedAt] of worker.running) {
        if (this.queueOf(this.tasks.get(id), worker) !== queue) continue;
        busy++;
        oldest = oldest === 0 ? startedAt : Math.min(oldest, startedAt);
        runningSeconds += Math.max(0, (at - startedAt) / 1000);
      }
      if (!worker.queues.has(queue) && busy === 0) continue;
      const peak = Math.max(0, ...worker.peaks.map((p) => p.running));
      const concurrency = Math.max(1, peak, worker.active, worker.running.size);
      const mine = worker.perQueue.get(queue) ?? { completed: 0, failed: 0, busySeconds: 0 };
      workers.push({
        id: worker.hostname,
        concurrency,
        busy,
        busySeconds: mine.busySeconds + runningSeconds,
        utilization: Math.min(1, busy / concurrency),
        completed: mine.completed,
        failed: mine.failed,
        startedAt: worker.onlineAt,
        heartbeatAt: worker.seenAt,
        oldestJobStartedAt: oldest,
      });
    }
    workers.sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
    const busy = workers.reduce((sum, w) => sum + w.busy, 0);
    const concurrency = workers.reduce((sum, w) => sum + w.concurrency, 0);
    return {
      workers,
      names: workers.slice(0, 100).map((w) => w.id),
      totals: {
        live: workers.length,
        busyWorkers: workers.filter((w) => w.busy > 0).length,
        busy,
        concurrency,
        utilization: concurrency > 0 ? Math.min(1, busy / concurrency) : 0,
        completed: numbers?.completed.count ?? 0,
        failed: numbers?.failed.count ?? 0,
      },
    };
  }

  /** Ids of the tasks the events show running now, on any live worker. */
  runningIds(): Set<string> {
    const at = this.now();
    const ids = new Set<string>();
    for (const worker of this.workers.values()) {
      if (this.alive(worker, at)) for (const id of worker.running.keys()) ids.add(id);
    }
    return ids;
  }

  /** The newest failed tasks of `queue` the events told, newest first, at most `limit`. */
  failures(queue: string, limit: number): CeleryFailure[] {
    return (this.queues.get(queue)?.failures ?? []).slice(-limit).reverse();
  }

  /** What the events have shown so far. */
  seen(): CeleryEventsSeen {
    const at = this.now();
    let live = 0;
    for (const worker of this.workers.values()) if (this.alive(worker, at)) live++;
    return {
      heartbeats: this.heartbeats,
      taskEvents: this.taskEvents,
      liveWorkers: live,
      sent: this.sent,
      unattributed: this.unattributed,
    };
  }
}
