import { hashTagOf } from '../../config/queue-address.js';
import { queueName, queuePrefix } from '../../config/setting-types.js';
import type { QueueAddress, QueuePattern } from '../queue-kind.js';

const NAME_RULE =
  'must be 1-100 characters of letters, digits, "_", "." or "-" (or a pattern with "*" and "?")';

/**
 * A BullMQ QUEUES entry: `<prefix>/<name>` after `bullmq:`, or a plain name under QUEUE_PREFIX;
 * a name with `*` or `?` is a pattern (`bullmq:<prefix>/*`, a plain `*`).
 */
export function parseBullmqAddress(
  spec: string,
  defaultPrefix: string,
  plain: boolean,
): QueueAddress | QueuePattern | string {
  const slash = spec.indexOf('/');
  if (!plain && slash < 0) return 'is not bullmq:<prefix>/<name>';
  const prefix = plain ? defaultPrefix : spec.slice(0, slash);
  const name = plain ? spec : spec.slice(slash + 1);
  if (!queuePrefix.safeParse(prefix).success) {
    return `has prefix "${prefix}": it must be 1-50 characters of letters, digits, "_", "." or "-", optionally in a hash tag such as {bull}`;
  }
  if (/[*?]/.test(name)) {
    return /^[\w.*?-]{1,100}$/.test(name) ? { kind: 'bullmq', prefix, pattern: name } : NAME_RULE;
  }
  if (!queueName.safeParse(name).success) return NAME_RULE;
  return { kind: 'bullmq', prefix, name };
}

/** `bullmq:<prefix>/<name>`. */
export function formatBullmqAddress(address: QueueAddress): string {
  return `bullmq:${address.prefix}/${address.name}`;
}

/** On Redis Cluster every key of a queue must share a slot: a prefix needs a hash tag. */
export function bullmqClusterProblem(
  address: QueueAddress,
  defaultPrefix: string,
): string | undefined {
  // QUEUE_PREFIX itself is checked on its own (its error names the variable).
  if (address.prefix === defaultPrefix || hashTagOf(address.prefix)) return undefined;
  return `queue "${address.name}" has prefix "${address.prefix}" without a hash tag; on Redis Cluster write it as bullmq:{${address.prefix}}/${address.name}`;
}
