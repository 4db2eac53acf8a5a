/**
 * The separator kombu's Redis transport puts between a queue's name and a priority step in the
 * name of that priority's list (`<queue>\x06\x16<step>`), and between the parts of a binding.
 */
export const KOMBU_SEPARATOR = '\x06\x16';

/**
 * Priority steps other than 0 whose lists are read. kombu keeps priority 0 in the list named after
 * the queue and every other step in `<queue>\x06\x16<step>`; its default steps are 0, 3, 6 and 9,
 * and `broker_transport_options={'priority_steps': …}` may use any of 0 to 9 (Celery's range).
 */
export const CELERY_PRIORITY_STEPS = [1, 2, 3, 4, 5, 6, 7, 8, 9] as const;

/** The hash of messages delivered to workers and not acknowledged (kombu's `unacked_key`). */
export const UNACKED_KEY = 'unacked';
/** The sorted set of {@link UNACKED_KEY}'s delivery tags, by delivery time (`unacked_index_key`). */
export const UNACKED_INDEX_KEY = 'unacked_index';

/**
 * The Redis keys of one Celery queue on kombu's Redis transport (Celery ≥ 5.2, kombu ≥ 5.2,
 * without `global_keyprefix`):
 * - the list named after the queue (priority 0, and every message when priorities are not used):
 *   producers LPUSH, workers BRPOP, so the oldest message is at the tail;
 * - `<queue>\x06\x16<step>`: the list of one priority step;
 * - `unacked` / `unacked_index`: messages workers hold (prefetched or, with `task_acks_late`,
 *   running), shared by every queue of the Redis database; each entry is `[message, exchange,
 *   routing_key]` as JSON;
 * - `_kombu.binding.<exchange>`: the set of `<routing key>\x06\x16<pattern>\x06\x16<queue>`.
 */
export class CeleryKeys {
  constructor(readonly queue: string) {}

  /** The list of one priority step (0: the queue's own list). */
  list(step = 0): string {
    return step === 0 ? this.queue : `${this.queue}${KOMBU_SEPARATOR}${step}`;
  }

  /** Every list of the queue, priority 0 first (the order in which workers take them). */
  lists(): string[] {
    return [this.list(0), ...CELERY_PRIORITY_STEPS.map((step) => this.list(step))];
  }

  /** The binding set of `exchange`. */
  static binding(exchange: string): string {
    return `_kombu.binding.${exchange}`;
  }
}
