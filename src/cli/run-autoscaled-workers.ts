import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import { createRedis } from '../redis/redis-connection.js';
import { watchedQueueNamed } from '../kinds/watched-queue.js';
import { QueueKeys } from '../queue/queue-keys.js';
import { scalingSignalsFor } from '../scaling/scaling-signals-for.js';
import { LocalAutoscaler, type LocalAutoscalerOptions } from '../supervisor/local-autoscaler.js';

/**
 * Worker processes on this host sized by the local autoscaler, reading the queue through a Redis
 * connection and sampler of their own (`qscale workers --autoscale`, a host without the sidecar).
 * `close()` stops the workers, then closes the connection. With the sidecar in the same process
 * (`qscale start --autoscale`), use `new LocalAutoscaler({ config, logger }).start(signals)` with the
 * sidecar's signals instead.
 */
export async function runAutoscaledWorkers(
  config: Config,
  logger: Logger,
  options: Pick<LocalAutoscalerOptions, 'spawnWorker' | 'workerIdPrefix'> = {},
): Promise<LocalAutoscaler> {
  const redis = createRedis(config.redis, {
    role: 'request',
    connectionName: `qscale:autoscaler:${config.worker.id}`,
  });
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  try {
    const keys =
      watchedQueueNamed(config, config.queue.name)?.keys ??
      new QueueKeys(config.queue.prefix, config.queue.name);
    const { signals } = scalingSignalsFor(config, redis, [keys]);
    const autoscaler = new LocalAutoscaler({
      config,
      logger,
      ...options,
      closeAlso: [() => redis.quit()],
    });
    return autoscaler.start(signals);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
}
