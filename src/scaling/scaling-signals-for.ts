import type { RedisClient } from '../redis/redis-connection.js';
import type { Config } from '../config/config.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import { QueueSampler } from '../sampling/queue-sampler.js';
import { ScalingSignals } from './scaling-signals.js';

/**
 * The shared scaling inputs for the queues of `keys` on one request-role connection, with the sample TTL,
 * Redis timeout and rate window of the config: what the sidecar and the local autoscaler read.
 * `readMemory`: samples carry Redis's `INFO memory` too (the sidecar's storage metrics).
 */
export function scalingSignalsFor(
  config: Config,
  redis: RedisClient,
  keys: readonly QueueKeys[],
  options: { readMemory?: boolean } = {},
): { signals: ScalingSignals; sampler: QueueSampler } {
  const sampler = new QueueSampler(redis, [...keys], {
    ttlMs: config.metrics.sampleTtlMs,
    timeoutMs: config.redis.timeoutMs,
    buckets: config.metrics.buckets,
    utilizationWindowMs: config.metrics.utilizationWindowSeconds * 1000,
    // The local autoscaler picks idle children to stop by their own records: list all of them.
    maxWorkers: config.autoscale.enabled
      ? Math.max(config.metrics.workerSeriesLimit, config.autoscale.maxWorkers)
      : config.metrics.workerSeriesLimit,
    readMemory: options.readMemory ?? false,
  });
  return { signals: new ScalingSignals(sampler, config.scaler.rateWindowSeconds), sampler };
}
