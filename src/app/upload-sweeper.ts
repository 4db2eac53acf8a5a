import { PeriodicTask } from './periodic-task.js';
import { hostname } from 'node:os';
import type { Logger } from '../config/logger.js';
import type { FileRecords } from '../pipeline/file-records.js';
import type { RedisClient } from '../redis/redis-connection.js';
import type { BlobStorage } from '../storage/blob-storage.js';
import { IntervalLock } from './interval-lock.js';

export interface UploadSweeperOptions {
  /** Leftovers younger than this are left alone: an upload may still be on its way. */
  graceMs: number;
  /** Time between sweeps; the first runs at start. */
  intervalMs: number;
  /** Who holds the sweep lock, as operators read it (WORKER_ID). @defaultValue the host name */
  ownerName?: string;
}

/** What one sweep did. */
export interface SweepReport {
  /** Unfinished writes (`.part` files of uploads whose process died) removed. */
  partialFiles: number;
  /** Blobs that no record refers to removed. */
  orphanBlobs: number;
  /** Records that said queued or processing while their job had ended for good, now failed. */
  failedRecords: number;
}

/** Records read per round trip. */
const PAGE = 500;

/**
 * Removes what crashes leave behind, at start and every `intervalMs`: `.part` files of uploads
 * whose process died, blobs without a record (an upload killed between its write and its record,
 * or a record lost with a Redis that restarted empty), and records that still say queued or
 * processing although their job has ended — failed (the record's own update was refused, by a full
 * Redis for one), completed without a result, or gone — so a record and its job never disagree for
 * longer than one interval. Anything younger than `graceMs` is left alone. With many API replicas,
 * a lock in Redis lets one of them sweep per interval ({@link IntervalLock}: a crashed holder's
 * lock is taken over once its heartbeat lapses, so a process back from a crash sweeps at start).
 */
export class UploadSweeper {
  private readonly records: FileRecords;
  private readonly storage: BlobStorage;
  private readonly logger: Logger;
  private readonly options: UploadSweeperOptions;
  private readonly lock: IntervalLock;
  private readonly task: PeriodicTask;
  private first = true;

  constructor(
    deps: { redis: RedisClient; records: FileRecords; storage: BlobStorage; logger: Logger },
    options: UploadSweeperOptions,
  ) {
    this.records = deps.records;
    this.storage = deps.storage;
    this.logger = deps.logger;
    this.options = options;
    const { keys } = deps.records;
    this.lock = new IntervalLock(deps.redis, {
      key: keys.bull('qscale:sweep-lock'),
      aliveKey: (owner) => keys.bull(`qscale:alive:${owner}`),
      name: options.ownerName ?? hostname(),
      intervalMs: options.intervalMs,
      logger: deps.logger,
    });
    this.task = new PeriodicTask(
      () => this.sweepIfFirst(),
      options.intervalMs,
      (error: unknown) => this.logger.warn({ err: error }, 'sweep failed'),
    );
  }

  /** Sweeps now, then every interval; failures are logged and retried next time. */
  start(): this {
    this.lock.start();
    this.task.start();
    return this;
  }

  /** Stops sweeping (a sweep in progress is waited for) and releases the sweep lock. */
  async close(): Promise<void> {
    await this.task.close();
    await this.lock.close();
  }

  /**
   * Sweeps unless another live replica swept in this interval; undefined when it did. The first
   * time (at start), a holder that looks alive gets a second look once its heartbeat would have
   * lapsed: after a crash, the holder is the process this one replaces.
   */
  async sweepIfFirst(): Promise<SweepReport | undefined> {
    const lock = await this.lock.take({ waitForLapse: this.first, signal: this.task.signal });
    this.first = false;
    if (lock === 'held' || this.task.closed) return undefined;
    if (lock === 'no-memory') {
      this.logger.warn('Redis is full (maxmemory): sweeping without the sweep lock');
    }
    return this.sweep();
  }

  /** One sweep, now; what it removed and fixed is logged and returned. */
  async sweep(now = Date.now()): Promise<SweepReport> {
    const before = now - this.options.graceMs;
    const partialFiles = await this.storage.removeUnfinished(before);
    const orphanBlobs = await this.removeOrphanBlobs(before);
    const failedRecords = await this.failEndedRecords(before, now);
    const report = { partialFiles, orphanBlobs, failedRecords };
    if (partialFiles + orphanBlobs + failedRecords > 0) {
      this.logger.info(report, 'swept leftovers of interrupted uploads and jobs');
    }
    return report;
  }

  private async removeOrphanBlobs(before: number): Promise<number> {
    let removed = 0;
    let batch: string[] = [];
    const flush = async () => {
      const ids = batch;
      batch = [];
      const exist = await this.records.existing(ids);
      for (const [index, id] of ids.entries()) {
        if (exist[index] || this.task.closed) continue;
        await this.storage.remove(id);
        removed++;
      }
    };
    for await (const id of this.storage.listBlobs(before)) {
      batch.push(id);
      if (batch.length >= PAGE) await flush();
    }
    await flush();
    return removed;
  }

  private async failEndedRecords(before: number, now: number): Promise<number> {
    let failed = 0;
    for (let start = 0; !this.task.closed; start += PAGE) {
      const ids = await this.records.listIds(start, start + PAGE - 1);
      for (const record of await this.records.findUnfinished(ids)) {
        let reason: string | undefined;
        if (record.job === 'failed') {
          reason = record.failedReason ?? 'its job failed';
        } else if (record.job === 'completed') {
          reason = 'its job ended without storing a result; upload the file again';
        } else if (record.job === 'missing' && record.uploadedAt < before) {
          reason = 'its job is gone (removed, or lost with Redis); upload the file again';
        }
        if (reason !== undefined && (await this.records.failUnfinished(record.id, reason, now))) {
          this.logger.warn({ fileId: record.id, reason }, 'record failed: its job had ended');
          failed++;
        }
      }
      if (ids.length < PAGE) break;
    }
    return failed;
  }
}
