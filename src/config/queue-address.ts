import type { QueueKind } from './config.js';
import { queueName, queuePrefix } from './setting-types.js';

/** Python RQ's fixed key prefix: its keys are `rq:queue:<name>`, `rq:wip:<name>`, … */
export const RQ_PREFIX = 'rq';

/**
 * A queue address split: `bullmq:<prefix>/<name>` gives both, `rq:<name>` an RQ queue (prefix
 * `rq`); a plain name is a BullMQ queue with no prefix of its own.
 */
export function splitQueueAddress(entry: string): {
  name: string;
  prefix?: string;
  kind: QueueKind;
} {
  const bullmq = /^bullmq:([^/]*)\/(.*)$/.exec(entry);
  if (bullmq) return { prefix: bullmq[1]!, name: bullmq[2]!, kind: 'bullmq' };
  const rq = /^rq:(.*)$/.exec(entry);
  if (rq) return { prefix: RQ_PREFIX, name: rq[1]!, kind: 'rq' };
  return { name: entry, kind: 'bullmq' };
}

/**
 * One entry of QUEUES: a plain queue name (a BullMQ queue under QUEUE_PREFIX),
 * `bullmq:<prefix>/<name>` for a BullMQ queue under another prefix, or `rq:<name>` for a Python
 * RQ queue. Returns what is wrong as a string when the entry is not valid.
 */
export function parseQueueAddress(
  entry: string,
  defaultPrefix: string,
): { name: string; prefix: string; kind: QueueKind } | string {
  const address = splitQueueAddress(entry);
  const { name, prefix = defaultPrefix, kind } = address;
  if (address.prefix === undefined && entry.includes(':')) {
    return 'is not a queue name, bullmq:<prefix>/<name> or rq:<name>';
  }
  if (!queuePrefix.safeParse(prefix).success) {
    return `has prefix "${prefix}": it must be 1-50 characters of letters, digits, "_", "." or "-", optionally in a hash tag such as {bull}`;
  }
  if (!queueName.safeParse(name).success) {
    return 'must be 1-100 characters of letters, digits, "_", "." or "-" (or bullmq:<prefix>/<name>, rq:<name>)';
  }
  return { name, prefix, kind };
}

/**
 * The hash tag of a key prefix: the text between the first `{` and the next `}`, when not empty —
 * what Redis Cluster hashes instead of the whole key.
 */
export function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1 ? prefix.slice(open + 1, close) : undefined;
}
