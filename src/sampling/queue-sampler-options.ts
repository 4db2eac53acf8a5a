/**
 * Every number is ≥ 0 (`maxWorkers` a whole number): the callers pass settings as loadConfig
 * checked them (SAMPLE_TTL_MS, REDIS_TIMEOUT_MS, WORKER_SERIES_LIMIT, MAX_WORKERS,
 * UTILIZATION_WINDOW_SECONDS), fixed values, or the defaults.
 */
export interface QueueSamplerOptions {
  /** How long a sample is reused, in ms. @defaultValue 1000 */
  ttlMs?: number;
  /** A read slower than this fails (and is not cached), in ms. @defaultValue 1000 */
  timeoutMs?: number;
  /**
   * At most this many live workers per queue are read one by one (their telemetry hashes, in
   * `QueueSnapshot.workers`): the longest-running first, so the list stays the same from one
   * sample to the next. Queue-level numbers (`QueueSnapshot.workerTotals`) count every live
   * worker whatever this is, at a cost that does not grow with the number of workers.
   * @defaultValue 100
   */
  maxWorkers?: number;
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number;
  /** Bucket bounds (seconds) of the histograms derived for workers without telemetry. */
  buckets?: readonly number[];
  /** Window of the utilization derived for RQ workers, in ms. @defaultValue 60000 */
  utilizationWindowMs?: number;
  /**
   * How long BullMQ's worker list (CLIENT LIST, O(connections)) is reused for queues whose workers
   * have no qscale telemetry, in ms. @defaultValue 5000
   */
  workerListTtlMs?: number;
  /**
   * Also read `INFO memory` (of every master on a Cluster, in parallel with the queues) into
   * `Sample.memory`: for the exporter. @defaultValue false
   */
  readMemory?: boolean;
}
