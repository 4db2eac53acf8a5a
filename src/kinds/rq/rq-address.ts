import { queueName } from '../../config/setting-types.js';
import type { QueueAddress, QueuePattern } from '../queue-kind.js';

/** Python RQ's fixed key prefix: its keys are `rq:queue:<name>`, `rq:wip:<name>`, … */
export const RQ_PREFIX = 'rq';

/** An RQ QUEUES entry: `<name>` after `rq:`, or a pattern such as `*`. */
export function parseRqAddress(spec: string): QueueAddress | QueuePattern | string {
  if (/[*?]/.test(spec)) {
    return /^[\w.*?-]{1,100}$/.test(spec)
      ? { kind: 'rq', prefix: RQ_PREFIX, pattern: spec }
      : 'must be a queue name or a pattern with "*" and "?" (rq:<name>, rq:*)';
  }
  if (!queueName.safeParse(spec).success) {
    return 'must be 1-100 characters of letters, digits, "_", "." or "-" (or bullmq:<prefix>/<name>, rq:<name>)';
  }
  return { kind: 'rq', prefix: RQ_PREFIX, name: spec };
}
