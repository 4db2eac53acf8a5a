/** How a WorkerTelemetry reports: what `instrumentWorker` and the worker pass it. */
export interface WorkerTelemetryOptions {
  /**
   * A worker id (WORKER_ID_PATTERN of config/worker-id.ts); checked here, since instrumentWorker passes one its
   * caller chose.
   */
  workerId: string;
  /** Slots, a whole number ≥ 1; checked here (a BullMQ worker's concurrency may be 2.5). */
  concurrency: number;
  /** @defaultValue 5 */
  heartbeatSeconds?: number;
  /** @defaultValue 60 */
  utilizationWindowSeconds?: number;
  /** Histogram upper bounds in seconds, ascending. */
  buckets: readonly number[];
  /**
   * Job ends are gathered for this long before they are written in one pipeline, in ms.
   * @defaultValue 100
   */
  flushDelayMs?: number;
  /**
   * At most this many expired peers (killed workers) are reaped per report: their contributions
   * leave the queue's worker totals. Every report of every live worker reaps, so a fleet clears
   * its dead within about one heartbeat. A whole number ≥ 1.
   * @defaultValue 50
   */
  reapLimit?: number;
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number;
}
