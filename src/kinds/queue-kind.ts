/**
 * Which job-queue library owns a queue's keys. Each kind has one driver (`registry.ts`); adding a
 * kind here without a driver, or a driver without its kind, fails to compile.
 */
export type QueueKind = 'bullmq' | 'rq' | 'celery';

/** One queue as QUEUES names it: its kind, its key prefix and its name. */
export interface QueueAddress {
  readonly kind: QueueKind;
  /** The key prefix (BullMQ: QUEUE_PREFIX or the one of `bullmq:<prefix>/<name>`; RQ: `rq`). */
  readonly prefix: string;
  readonly name: string;
}

/**
 * A QUEUES entry that names queues by pattern (`bullmq:<prefix>/*`, `rq:*`, a plain `*`): the
 * driver's `discover` finds the queues that match, again every DISCOVERY_INTERVAL_SECONDS.
 */
export interface QueuePattern {
  readonly kind: QueueKind;
  readonly prefix: string;
  /** A glob over queue names: `*` any run of characters, `?` one character. */
  readonly pattern: string;
}

/** What one QUEUES entry names. */
export type QueueSelector = QueueAddress | QueuePattern;

export function isQueuePattern(selector: QueueSelector): selector is QueuePattern {
  return 'pattern' in selector;
}

/** Whether `name` matches a glob of `*` and `?`. */
export function matchesPattern(name: string, pattern: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return regex.test(name);
}

/** Whether a sampled queue (its kind, prefix and name) is one a pattern names. */
export function matchesQueuePattern(
  queue: { queue: string; kind?: QueueKind; prefix?: string },
  pattern: QueuePattern,
): boolean {
  return (
    (queue.kind ?? 'bullmq') === pattern.kind &&
    queue.prefix === pattern.prefix &&
    matchesPattern(queue.queue, pattern.pattern)
  );
}
