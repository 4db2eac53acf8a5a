import { queueName } from '../../config/setting-types.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import { matchesPattern, type QueuePattern } from '../queue-kind.js';
import { KOMBU_SEPARATOR } from './celery-keys.js';

/** Binding sets one discovery reads at most. */
const MAX_BINDINGS = 1000;

/** kombu's own queues: the broadcast (pidbox) and event queues are no task queues. */
const INTERNAL = /(\.celery\.pidbox|^celeryev\.|\.reply\.celery\.pidbox)$|^celeryev\./;

/**
 * The Celery queues whose names match the pattern: kombu records each queue declared on an
 * exchange in `_kombu.binding.<exchange>` (members `<routing key>\x06\x16<pattern>\x06\x16<queue>`),
 * which producers and workers write when they declare it. Read-only: SCAN for the binding sets (at
 * most 1000), then SMEMBERS each.
 */
export async function discoverCeleryQueues(
  redis: RedisClient,
  pattern: QueuePattern,
  limit: number,
): Promise<string[]> {
  const bindings: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await redis.scan(cursor, 'MATCH', '_kombu.binding.*', 'COUNT', 500)) as [
      string,
      string[],
    ];
    cursor = next;
    bindings.push(...keys);
  } while (cursor !== '0' && bindings.length < MAX_BINDINGS);
  const names = new Set<string>();
  for (const key of bindings.slice(0, MAX_BINDINGS)) {
    if (key.endsWith('.pidbox')) continue;
    for (const member of await redis.smembers(key)) {
      const queue = member.split(KOMBU_SEPARATOR)[2];
      if (!queue || INTERNAL.test(queue) || !queueName.safeParse(queue).success) continue;
      if (matchesPattern(queue, pattern.pattern)) names.add(queue);
    }
  }
  return [...names].sort().slice(0, limit);
}
