import { PeriodicTask } from './periodic-task.js';
import { hostname } from 'node:os';
import type { Logger } from '../config/logger.js';
import type { FileQueue } from '../pipeline/file-queue.js';
import type { FileRecords } from '../pipeline/file-records.js';
import type { RedisClient } from '../redis/redis-connection.js';
import type { BlobStorage } from '../storage/blob-storage.js';
import { removeFile } from './file-removal.js';
import { IntervalLock } from './interval-lock.js';

/**
 * Every option is a whole number (a safe integer), at least 0 for the ages and `maxFiles`, at least
 * 1 for `intervalMs`, `batch` and `scanLimit`: the API passes the retention settings as loadConfig
 * checked them, and the defaults for the rest.
 */
export interface RetentionSweeperOptions {
  /**
   * A finished file (completed or failed) is deleted once it finished longer ago than this, in ms;
   * 0: files are kept whatever their age (FILE_RETENTION_SECONDS).
   * @defaultValue 0
   */
  fileMaxAgeMs?: number;
  /**
   * Finished files that are not among the newest this many (by upload time) are deleted; 0: no
   * limit (MAX_FILES). @defaultValue 0
   */
  maxFiles?: number;
  /** Completed jobs older than this are removed, in ms; 0: no age limit. @defaultValue 0 */
  completedJobMaxAgeMs?: number;
  /** Failed jobs older than this are removed, in ms; 0: no age limit. @defaultValue 0 */
  failedJobMaxAgeMs?: number;
  /** Time between sweeps; the first runs at start. @defaultValue 60000 */
  intervalMs?: number;
  /** Most files deleted, and most jobs of each state removed, per sweep. @defaultValue 200 */
  batch?: number;
  /** Most files looked at per sweep (queued or processing ones are passed over). @defaultValue 1000 */
  scanLimit?: number;
  /** Who holds the retention lock, as operators read it (WORKER_ID). @defaultValue the host name */
  ownerName?: string;
}

/** What one sweep removed. */
export interface RetentionReport {
  /** Finished files deleted whole (record, chunks, vectors, job, blob). */
  files: number;
  /** Completed and failed BullMQ jobs removed for their age. */
  completedJobs: number;
  failedJobs: number;
}

/** Files read per Redis round trip. */
const PAGE = 200;

/**
 * Applies the retention settings, at start and every `intervalMs`, in bounded steps: from the
 * oldest end of the file index, finished files past `fileMaxAgeMs` (counted from when they
 * finished) or beyond the newest `maxFiles` are deleted whole through the path
 * `DELETE /api/v1/files/:id` takes — at most `batch` per sweep, looking at most at `scanLimit`
 * files — and completed and failed jobs past their age are removed (at most `batch` of each; BullMQ
 * itself applies the ages only when a later job finishes). A file that is queued or processing is
 * never deleted: the check and the delete are one script. With many API replicas, a lock in Redis
 * lets one of them sweep per interval ({@link IntervalLock}). Every Redis call has the connection's deadline
 * (REDIS_TIMEOUT_MS).
 */
export class RetentionSweeper {
  private readonly deps: {
    redis: RedisClient;
    records: FileRecords;
    storage: BlobStorage;
    queue: FileQueue;
    logger: Logger;
  };
  private readonly options: Required<RetentionSweeperOptions>;
  private readonly lock: IntervalLock;
  private readonly task: PeriodicTask;
  private first = true;

  constructor(
    deps: {
      redis: RedisClient;
      records: FileRecords;
      storage: BlobStorage;
      queue: FileQueue;
      logger: Logger;
    },
    options: RetentionSweeperOptions = {},
  ) {
    const merged = {
      fileMaxAgeMs: 0,
      maxFiles: 0,
      completedJobMaxAgeMs: 0,
      failedJobMaxAgeMs: 0,
      intervalMs: 60_000,
      batch: 200,
      scanLimit: 1000,
      ownerName: hostname(),
      ...options,
    };
    this.deps = deps;
    this.options = merged;
    const { keys } = deps.records;
    this.lock = new IntervalLock(deps.redis, {
      key: keys.bull('qscale:retention-lock'),
      aliveKey: (owner) => keys.bull(`qscale:alive:${owner}`),
      name: merged.ownerName,
      intervalMs: merged.intervalMs,
      logger: deps.logger,
    });
    this.task = new PeriodicTask(
      () => this.sweepIfFirst(),
      merged.intervalMs,
      (error: unknown) => this.deps.logger.warn({ err: error }, 'retention sweep failed'),
    );
  }

  /** Whether any retention setting asks for something to be removed. */
  get enabled(): boolean {
    const o = this.options;
    return o.fileMaxAgeMs + o.maxFiles + o.completedJobMaxAgeMs + o.failedJobMaxAgeMs > 0;
  }

  /** Sweeps now, then every interval; failures are logged and retried next time. */
  start(): this {
    if (!this.enabled) return this;
    this.lock.start();
    this.task.start();
    return this;
  }

  /**
   * Stops sweeping (a sweep in progress stops after the file it is deleting, and is waited for)
   * and releases the retention lock.
   */
  async close(): Promise<void> {
    await this.task.close();
    await this.lock.close();
  }

  /**
   * Sweeps unless another live replica swept in this interval; undefined when it did. The first
   * time, a holder that looks alive gets a second look once its heartbeat would have lapsed (see
   * {@link IntervalLock}). On a full Redis it sweeps without the lock: deleting frees memory.
   */
  async sweepIfFirst(now = Date.now()): Promise<RetentionReport | undefined> {
    const lock = await this.lock.take({ waitForLapse: this.first, signal: this.task.signal });
    this.first = false;
    if (lock === 'held' || this.task.closed) return undefined;
    if (lock === 'no-memory') {
      this.deps.logger.warn('Redis is full (maxmemory): applying retention without its lock');
    }
    return this.sweep(now);
  }

  /** One sweep, now; what it removed is logged and returned. */
  async sweep(now = Date.now()): Promise<RetentionReport> {
    const files = await this.removeFiles(now);
    const completedJobs = await this.removeJobs(
      'completed',
      this.options.completedJobMaxAgeMs,
      now,
    );
    const failedJobs = await this.removeJobs('failed', this.options.failedJobMaxAgeMs, now);
    const report = { files, completedJobs, failedJobs };
    if (files + completedJobs + failedJobs > 0) {
      this.deps.logger.info(report, 'retention: removed finished files and jobs');
    }
    return report;
  }

  private async removeFiles(now: number): Promise<number> {
    const { fileMaxAgeMs, maxFiles, batch, scanLimit } = this.options;
    if (fileMaxAgeMs === 0 && maxFiles === 0) return 0;
    const { records } = this.deps;
    const cutoff = fileMaxAgeMs > 0 ? now - fileMaxAgeMs : -Infinity;
    // The oldest `excess` files are beyond the newest maxFiles.
    const excess = maxFiles > 0 ? Math.max(0, (await records.count()) - maxFiles) : 0;
    let removed = 0;
    // `seen` counts files looked at (their rank when the sweep began); `gone` those taken out of
    // the index since, by which the next page's offset moves back.
    let seen = 0;
    let gone = 0;
    while (seen < scanLimit && removed < batch && !this.task.closed) {
      const page = await records.listOldest(seen - gone, Math.min(PAGE, scanLimit - seen));
      // Oldest first: once a file is neither past the count nor uploaded before the cutoff, no
      // later one is (a file cannot have finished before it was uploaded).
      const candidates = page.filter(
        (file, index) => seen + index < excess || file.uploadedAt < cutoff,
      );
      const found = await records.getMany(candidates.map((file) => file.id));
      for (const [index, file] of candidates.entries()) {
        if (removed >= batch || this.task.closed) break;
        const record = found[index];
        const overCount = seen + index < excess;
        // An index entry whose record is gone is a leftover: taken out like an expired file.
        const expired = (record?.finishedAt ?? file.uploadedAt) < cutoff;
        const finished = !record || record.status === 'completed' || record.status === 'failed';
        if (!finished || !(overCount || expired)) continue;
        const outcome = await removeFile(this.deps, file.id, { onlyFinished: true });
        if (outcome !== 'unfinished') gone++;
        if (outcome === 'deleted') removed++;
      }
      seen += page.length;
      if (candidates.length < page.length || page.length < PAGE) break;
    }
    return removed;
  }

  /** Removes up to `batch` jobs of `state` that finished more than `maxAgeMs` ago. */
  private async removeJobs(
    state: 'completed' | 'failed',
    maxAgeMs: number,
    now: number,
  ): Promise<number> {
    if (maxAgeMs === 0 || this.task.closed) return 0;
    const { redis, records, queue } = this.deps;
    // BullMQ scores finished jobs by when they finished. Asked first: a clean adds an event to the
    // queue's stream even when it removes nothing.
    const due = await redis.zcount(records.keys.bull(state), 0, now - maxAgeMs);
    if (due === 0) return 0;
    return (await queue.clean(maxAgeMs, this.options.batch, state)).length;
  }
}
