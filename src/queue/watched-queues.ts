import type { Config } from '../config/config.js';
import { QueueKeys } from './queue-keys.js';

/**
 * The keys of every queue a config watches, in order: QUEUES' addresses (a plain name under
 * QUEUE_PREFIX, `bullmq:<prefix>/<name>`, `rq:<name>`), else QUEUE_NAME.
 */
export function watchedQueueKeys(config: Config): QueueKeys[] {
  return config.metrics.queues.map(
    (queue) =>
      new QueueKeys(
        config.metrics.queuePrefixes[queue] ?? config.queue.prefix,
        queue,
        config.metrics.queueKinds[queue] ?? 'bullmq',
      ),
  );
}
