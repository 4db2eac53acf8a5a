import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/redis-connection.js';
import type { Logger } from '../config/logger.js';
import { WORKER_ID_PATTERN } from '../config/worker-id.js';
import { bucketField, bucketFor } from '../queue/histogram-fields.js';
import type { QueueKeys, TelemetryHistogram } from '../queue/queue-keys.js';
import { jobOutcome, type JobOutcome } from './job-outcome.js';
import type { WorkerTelemetryOptions } from './worker-telemetry-options.js';
import { LEAVE_WORKER, REPORT_WORKER } from './worker-telemetry-scripts.js';

/** A worker sweeps the totals for orphaned entries every this many heartbeats. */
const SWEEP_EVERY = 12;

/** The job counters a report carries into the queue's totals. */
interface Counters {
  completed: number;
  failed: number;
}

type TelemetryRedis = RedisClient & {
  qscaleLeaveWorker(...args: (string | number)[]): Promise<number>;
};

/** A pipeline of a client on which the scripts are defined. */
interface TelemetryPipeline {
  qscaleReportWorker(...args: (string | number)[]): unknown;
  exec(): Promise<[Error | null, unknown][] | null>;
}

interface PendingHistogram {
  count: number;
  sum: number;
  buckets: Map<number, number>;
}

/**
 * What one worker tells the exporter through Redis: a heartbeat every `heartbeatSeconds` (its
 * record expires after three missed ones) with concurrency, busy slots, windowed utilization and
 * cumulative counters; and, per job, processing and wait times in cumulative histogram buckets.
 *
 * Each report also keeps the queue's worker totals (live workers' concurrency, busy slots,
 * utilization; all-time counters) so that the exporter reads them in a few commands however many
 * workers there are: the worker adds the change since its last report, reaps peers whose
 * heartbeat expired (subtracting what they had added), and on {@link close} subtracts itself. The
 * atomic parts are the scripts of `worker-telemetry-scripts.ts`, which list the races they handle.
 *
 * Cost: job starts and ends are gathered for `flushDelayMs` and written in one pipeline (the ends'
 * histograms and the worker's record), so a job costs at most two pipelined round trips (its start
 * and its end, when they fall in different windows), and far fewer under load (at most one every
 * `flushDelayMs`). Nothing here reads job hashes, so it stays right when jobs are removed on
 * completion.
 */
export class WorkerTelemetry {
  private readonly redis: TelemetryRedis;
  private readonly keys: QueueKeys;
  private readonly logger: Logger;
  private readonly opts: Required<Omit<WorkerTelemetryOptions, 'buckets'>> & {
    buckets: readonly number[];
  };
  private readonly startedAt: number;
  /** Tells this process apart from an earlier one that used the same worker id. */
  private readonly instance = randomBytes(6).toString('hex');
  /** The counters of the last report Redis acknowledged. */
  private acknowledged: Counters = { completed: 0, failed: 0 };
  private lastUtilization = 0;
  private lastHeartbeatAt = 0;
  private heartbeats = 0;
  private busy = 0;
  /** Busy slot-seconds up to `lastChange`. */
  private busySeconds = 0;
  private lastChange: number;
  /** (time, cumulative busy slot-seconds) at each heartbeat within the utilization window. */
  private readonly history: { at: number; busySeconds: number }[] = [];
  private completed = 0;
  private failed = 0;
  private readonly pending = new Map<TelemetryHistogram, PendingHistogram>();
  private flushing?: Promise<void>;
  /** A job started or ended since the record was last written. */
  private recordChanged = false;
  private flushTimer?: NodeJS.Timeout;
  private heartbeating?: Promise<void>;
  /** Start times (epoch ms) of the jobs running now, by token. */
  private readonly running = new Map<number, number>();
  private lastToken = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    redis: RedisClient,
    keys: QueueKeys,
    logger: Logger,
    options: WorkerTelemetryOptions,
  ) {
    const opts = {
      heartbeatSeconds: 5,
      utilizationWindowSeconds: 60,
      flushDelayMs: 100,
      reapLimit: 50,
      now: Date.now,
      ...options,
    };
    if (!WORKER_ID_PATTERN.test(opts.workerId)) {
      throw new RangeError(
        `worker id ${JSON.stringify(opts.workerId)} is not a safe label value: use 1-128 letters, digits, "_", ".", ":" or "-"`,
      );
    }
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
      throw new RangeError(`concurrency must be a whole number ≥ 1, got ${opts.concurrency}`);
    }
    this.redis = redis as TelemetryRedis;
    if (typeof this.redis.qscaleLeaveWorker !== 'function') {
      redis.defineCommand('qscaleReportWorker', { numberOfKeys: 5, lua: REPORT_WORKER });
      redis.defineCommand('qscaleLeaveWorker', { numberOfKeys: 5, lua: LEAVE_WORKER });
    }
    this.keys = keys;
    this.logger = logger;
    this.opts = opts;
    this.startedAt = opts.now();
    this.lastChange = this.startedAt;
  }

  /** Sends the first heartbeat and keeps sending them until {@link close}. */
  async start(): Promise<void> {
    await this.heartbeat();
    this.timer = setInterval(() => {
      this.heartbeat().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'telemetry heartbeat failed'),
      );
    }, this.opts.heartbeatSeconds * 1000);
    this.timer.unref();
  }

  private accrue(now: number): void {
    this.busySeconds += (this.busy * (now - this.lastChange)) / 1000;
    this.lastChange = now;
  }

  /**
   * A slot became busy. Returns a token for {@link jobEnded}. The worker's record (busy slots,
   * longest-running job) is written soon, with the next flush: the pod-deletion-cost keeper and
   * the scaler must see a pod that just took a job as busy, not wait for the next heartbeat.
   */
  jobStarted(): number {
    const now = this.opts.now();
    this.accrue(now);
    this.busy++;
    const token = ++this.lastToken;
    this.running.set(token, now);
    this.recordChanged = true;
    this.requestFlush();
    return token;
  }

  /** A slot became free: record the job's times and flush soon. */
  jobEnded(outcome: JobOutcome, token?: number): void {
    this.accrue(this.opts.now());
    this.busy = Math.max(0, this.busy - 1);
    if (token !== undefined) this.running.delete(token);
    this.observe(`processing:${outcome.status}`, outcome.processingSeconds);
    if (outcome.waitSeconds !== undefined) this.observe('wait', Math.max(0, outcome.waitSeconds));
    if (outcome.status === 'completed') this.completed++;
    else this.failed++;
    this.recordChanged = true;
    this.requestFlush();
  }

  /**
   * Wraps a BullMQ processor so every job it runs is counted: busy slots while it runs, and its
   * processing time, outcome and (first attempt only) wait time when it ends.
   */
  instrument<J extends Job, R>(processor: (job: J) => Promise<R>): (job: J) => Promise<R> {
    return async (job: J) => {
      const started = this.opts.now();
      const token = this.jobStarted();
      let status: JobOutcome['status'] = 'failed';
      try {
        const result = await processor(job);
        status = 'completed';
        return result;
      } finally {
        this.jobEnded(jobOutcome(job, status, started, this.opts.now()), token);
      }
    };
  }

  private observe(name: TelemetryHistogram, seconds: number): void {
    let histogram = this.pending.get(name);
    if (!histogram) {
      histogram = { count: 0, sum: 0, buckets: new Map() };
      this.pending.set(name, histogram);
    }
    const bound = bucketFor(seconds, this.opts.buckets);
    histogram.count++;
    histogram.sum += seconds;
    histogram.buckets.set(bound, (histogram.buckets.get(bound) ?? 0) + 1);
  }

  private requestFlush(): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      // One flush at a time: a flush that is still running is waited for, then this one runs.
      this.flushing = (this.flushing ?? Promise.resolve())
        .then(() => this.flush())
        .catch((error: unknown) => this.logger.warn({ err: error }, 'telemetry flush failed'));
    }, this.opts.flushDelayMs);
    this.flushTimer.unref();
  }

  /** Writes the job ends gathered since the last flush, and the worker's record, in one pipeline. */
  private async flush(): Promise<void> {
    if (this.pending.size === 0 && !this.recordChanged) return;
    const pending = new Map(this.pending);
    this.pending.clear();
    this.recordChanged = false;
    const pipeline = this.redis.pipeline() as unknown as TelemetryPipeline & ChainableCommander;
    for (const [name, histogram] of pending) {
      const key = this.keys.histogram(name);
      pipeline.hincrby(key, 'count', histogram.count);
      pipeline.hincrbyfloat(key, 'sum', histogram.sum);
      for (const [bound, n] of histogram.buckets) pipeline.hincrby(key, bucketField(bound), n);
    }
    // The worker's own record and its share of the totals: absolute values, like the heartbeat.
    const counters = this.report(pipeline, this.opts.now(), false, false);
    const results = (await pipeline.exec()) ?? [];
    const failure = results.find(([error]) => error)?.[0];
    if (failure) {
      // Put the numbers back so the next flush carries them; counters never go missing.
      this.merge(pending);
      this.recordChanged = true;
      throw failure;
    }
    this.acknowledge(counters);
  }

  /** The keys the report and leave scripts take, in their order. */
  private scriptKeys(): [string, string, string, string, string] {
    const k = this.keys;
    return [
      k.workers(),
      k.workersByStart(),
      k.workerContributions(),
      k.workerTotals(),
      k.worker(this.opts.workerId),
    ];
  }

  /**
   * Queues this worker's report (see `REPORT_WORKER`) on `pipeline`; returns the counters it
   * carries, to {@link acknowledge} once Redis has run it.
   */
  private report(
    pipeline: TelemetryPipeline,
    now: number,
    announce: boolean,
    sweep: boolean,
  ): Counters {
    this.accrue(now);
    const cpu = process.cpuUsage();
    const counters: Counters = { completed: this.completed, failed: this.failed };
    const base = this.acknowledged;
    pipeline.qscaleReportWorker(
      ...this.scriptKeys(),
      this.opts.workerId,
      this.instance,
      now,
      announce ? 1 : 0,
      now + this.ttlMs(),
      this.ttlMs(),
      this.opts.reapLimit,
      this.startedAt,
      this.opts.concurrency,
      this.busy,
      this.lastUtilization.toFixed(4),
      counters.completed,
      counters.failed,
      this.busySeconds.toFixed(3),
      ((cpu.user + cpu.system) / 1e6).toFixed(3),
      base.completed,
      base.failed,
      this.oldestJobStartedAt(),
      this.lastHeartbeatAt,
      sweep ? 1 : 0,
    );
    return counters;
  }

  private acknowledge(counters: Counters): void {
    // Replies come back in order and counters only grow: the latest acknowledged is the largest.
    this.acknowledged = counters;
  }

  private merge(pending: Map<TelemetryHistogram, PendingHistogram>): void {
    for (const [name, histogram] of pending) {
      const current = this.pending.get(name) ?? { count: 0, sum: 0, buckets: new Map() };
      current.count += histogram.count;
      current.sum += histogram.sum;
      for (const [bound, n] of histogram.buckets) {
        current.buckets.set(bound, (current.buckets.get(bound) ?? 0) + n);
      }
      this.pending.set(name, current);
    }
  }

  /** When the longest-running current job started (epoch ms), 0 when idle. */
  private oldestJobStartedAt(): number {
    let oldest = 0;
    for (const startedAt of this.running.values()) {
      if (oldest === 0 || startedAt < oldest) oldest = startedAt;
    }
    return oldest;
  }

  private ttlMs(): number {
    return this.opts.heartbeatSeconds * 3 * 1000;
  }

  /**
   * Busy slot-seconds / (concurrency × elapsed) since the last heartbeat at or before the window
   * start (so over the window plus at most one heartbeat interval), or since the worker started.
   */
  utilization(now = this.opts.now()): number {
    this.accrue(now);
    const windowStart = now - this.opts.utilizationWindowSeconds * 1000;
    let from = { at: this.startedAt, busySeconds: 0 };
    for (const point of this.history) {
      if (point.at > windowStart) break;
      from = point;
    }
    const span = (now - from.at) / 1000;
    if (span <= 0) return this.busy > 0 ? 1 : 0;
    const busy = this.busySeconds - from.busySeconds;
    return Math.min(1, Math.max(0, busy / (this.opts.concurrency * span)));
  }

  /** Writes the worker's record and renews its place among the live workers. */
  heartbeat(): Promise<void> {
    if (this.closed) return Promise.resolve();
    // Remembered so close() can wait for it: a heartbeat landing after close() would re-add the
    // worker to the live set.
    const beat = this.writeHeartbeat();
    this.heartbeating = beat.catch(() => undefined);
    return beat;
  }

  private async writeHeartbeat(): Promise<void> {
    const now = this.opts.now();
    this.lastUtilization = this.utilization(now);
    this.lastHeartbeatAt = now;
    this.history.push({ at: now, busySeconds: this.busySeconds });
    const windowStart = now - this.opts.utilizationWindowSeconds * 1000;
    // Keep one point at or before the window start, drop older ones.
    while (this.history.length > 1 && this.history[1]!.at <= windowStart) this.history.shift();
    const pipeline = this.redis.pipeline() as unknown as TelemetryPipeline;
    // Every 12th heartbeat (once a minute at 5 s) sweeps for orphaned entries.
    const sweep = ++this.heartbeats % SWEEP_EVERY === 0;
    const counters = this.report(pipeline, now, true, sweep);
    const results = await pipeline.exec();
    const failure = results?.find(([error]) => error)?.[0];
    if (failure) throw failure;
    this.acknowledge(counters);
  }

  /**
   * Flushes what is pending and removes this worker from the live set and its contribution from
   * the totals, so its series vanish at once on a graceful stop. Idempotent; never throws.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    try {
      await this.heartbeating;
      await this.flushing;
      await this.flush();
      await this.redis.qscaleLeaveWorker(...this.scriptKeys(), this.opts.workerId, this.instance);
    } catch (error) {
      this.logger.warn({ err: error }, 'telemetry close failed');
    }
  }
}
