import { queueName } from '../../config/setting-types.js';
import type { QueueAddress, QueuePattern } from '../queue-kind.js';

/** The prefix qscale gives Celery queues in labels: kombu's keys have none of their own. */
export const CELERY_PREFIX = 'celery';

/** A Celery QUEUES entry: `<queue>` after `celery:`, or a pattern such as `*`. */
export function parseCeleryAddress(spec: string): QueueAddress | QueuePattern | string {
  if (/[*?]/.test(spec)) {
    return /^[\w.*?-]{1,100}$/.test(spec)
      ? { kind: 'celery', prefix: CELERY_PREFIX, pattern: spec }
      : 'must be a queue name or a pattern with "*" and "?" (celery:<queue>, celery:*)';
  }
  if (!queueName.safeParse(spec).success) {
    return 'must be 1-100 characters of letters, digits, "_", "." or "-" (celery:<queue>)';
  }
  return { kind: 'celery', prefix: CELERY_PREFIX, name: spec };
}
