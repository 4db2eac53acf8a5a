import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../config/logger.js';
import type { UnsettledUpload } from '../pipeline/file-record.js';
import type { FileRecords } from '../pipeline/file-records.js';
import type { BlobStorage } from '../storage/blob-storage.js';

export interface UploadSettlerOptions {
  /** Pause between two tries while Redis does not answer, in ms. @defaultValue 500 */
  retryMs?: number;
  /** Give up (and log an error) after trying this long, in ms. @defaultValue 600000 */
  giveUpAfterMs?: number;
  /**
   * Runs after an upload was kept, e.g. to confirm it on replicas and release its held jobs
   * (REDIS_MIN_REPLICAS_ACK). Its failure is logged. @defaultValue none
   */
  afterKept?: (fileIds: string[]) => Promise<void>;
  /**
   * Whether a decision, written under its marker key, is durable (e.g. confirmed by replicas,
   * REDIS_MIN_REPLICAS_ACK); when not, the settlement is tried again — a decision written to a
   * primary that a failover then discards must not count. @defaultValue always durable
   */
  isDurable?: (markerKey: string) => Promise<boolean>;
}

/** Tries in which a settlement waits for its decision to be durable before it accepts it. */
const DURABILITY_TRIES = 10;

/**
 * Brings uploads whose enqueue had no clear answer to a consistent end, in the background, once
 * Redis answers again: either the file exists completely (record, blob, job) or not at all. The
 * request itself has already been answered 503; a retry with the same Idempotency-Key then gets
 * the same file (when it was kept) or starts afresh (when it was dropped).
 */
export class UploadSettler {
  private readonly pending = new Set<Promise<void>>();
  private readonly opts: Required<UploadSettlerOptions>;
  private closed = false;

  constructor(
    private readonly records: FileRecords,
    private readonly storage: BlobStorage,
    private readonly logger: Logger,
    options: UploadSettlerOptions = {},
  ) {
    this.opts = {
      retryMs: 500,
      giveUpAfterMs: 600_000,
      afterKept: async () => {},
      isDurable: async () => true,
      ...options,
    };
  }

  /** Starts settling an upload; returns at once. */
  settle(upload: UnsettledUpload): void {
    const run = this.run(upload).finally(() => this.pending.delete(run));
    this.pending.add(run);
  }

  /** Resolves when every settlement started so far has ended. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /**
   * Waits up to `timeoutMs` for the settlements in progress, then stops retrying. What is left is
   * made consistent by expiry: unconfirmed records expire, a job without a record is skipped.
   */
  async close(timeoutMs = 2000): Promise<void> {
    const waiting = Promise.all([...this.pending]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      waiting,
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    this.closed = true;
    if (this.pending.size > 0) {
      this.logger.warn({ unsettled: this.pending.size }, 'stopping with uploads still unsettled');
    }
  }

  private async run(upload: UnsettledUpload): Promise<void> {
    const ids = upload.records.map((record) => record.id);
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        // Every try goes out on the same connection after the enqueue, so each one sees its
        // effect; the first to run decides, later ones repeat its answer.
        const outcome = await this.records.settleUpload(upload);
        // After a failover the new primary may have no replica for a while: after 10 tries the
        // decision stands where it was made (the current primary, by then).
        const marker = this.records.settleMarker(upload.uploadId);
        if (attempt <= DURABILITY_TRIES && !(await this.opts.isDurable(marker))) {
          throw new Error('the decision is not durable yet');
        }
        if (outcome === 'dropped') {
          await Promise.all(ids.map((id) => this.storage.remove(id).catch(() => undefined)));
        } else {
          await this.opts
            .afterKept(ids)
            .catch((error: unknown) =>
              this.logger.warn({ err: error, fileIds: ids }, 'could not finish a kept upload'),
            );
        }
        this.logger.info({ fileIds: ids, outcome, attempt }, 'upload with unknown outcome settled');
        return;
      } catch (error) {
        if (this.closed || Date.now() - started > this.opts.giveUpAfterMs) {
          this.logger.error(
            { err: error, fileIds: ids },
            'could not settle an upload with unknown outcome; unconfirmed records expire by themselves',
          );
          return;
        }
        await sleep(this.opts.retryMs);
      }
    }
  }
}
