import type { Config } from '../config/config.js';
import { QueueKeys } from '../queue/queue-keys.js';
import type { QueueKindDriver } from './driver.js';
import { formatQueueAddress } from './queue-addresses.js';
import type { QueueAddress } from './queue-kind.js';
import { driverOf } from './registry.js';

/** One watched queue, built once: its address, its keys and the driver of its kind. */
export interface WatchedQueue extends QueueAddress {
  /** Its QUEUES entry: `bullmq:<prefix>/<name>`, `rq:<name>`, … */
  readonly address: string;
  readonly keys: QueueKeys;
  readonly driver: QueueKindDriver;
}

export function watchedQueue(address: QueueAddress): WatchedQueue {
  return {
    kind: address.kind,
    prefix: address.prefix,
    name: address.name,
    address: formatQueueAddress(address),
    keys: new QueueKeys(address.prefix, address.name, address.kind),
    driver: driverOf(address.kind),
  };
}

/** The queues QUEUES (else QUEUE_NAME) names one by one, in order (patterns: see discovery). */
export function watchedQueuesOf(config: Pick<Config, 'metrics'>): WatchedQueue[] {
  return config.metrics.queues.map(watchedQueue);
}

/** The keys of a config's named queue, for commands that take `--queue <name>`. */
export function watchedQueueNamed(
  config: Pick<Config, 'metrics'>,
  name: string,
): WatchedQueue | undefined {
  const address = config.metrics.queues.find((q) => q.name === name);
  return address && watchedQueue(address);
}
