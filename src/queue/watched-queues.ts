import type { Config } from '../config/config.js';
import { QueueKeys } from './queue-keys.js';

/**
 * The keys of one queue a config names: its prefix (QUEUE_PREFIX unless QUEUES gave
 * `bullmq:<prefix>/<name>`, `rq` for `rq:<name>`) and its kind.
 */
export function queueKeysOf(config: Config, queue: string): QueueKeys {
  return new QueueKeys(
    config.metrics.queuePrefixes[queue] ?? config.queue.prefix,
    queue,
    config.metrics.queueKinds[queue] ?? 'bullmq',
  );
}

/**
 * The keys of every queue a config watches, in order: QUEUES' addresses (a plain name under
 * QUEUE_PREFIX, `bullmq:<prefix>/<name>`, `rq:<name>`), else QUEUE_NAME.
 */
export function watchedQueueKeys(config: Config): QueueKeys[] {
  return config.metrics.queues.map((queue) => queueKeysOf(config, queue));
}
