import { queueName } from '../../config/setting-types.js';
import { scanKeys } from '../../redis/scan-keys.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import { matchesPattern, type QueuePattern } from '../queue-kind.js';

/**
 * The BullMQ queues under a prefix whose names match the pattern: every queue has an `id` counter
 * (its first add) or a `meta` hash (its first worker or pause), so a SCAN of `<prefix>:*:id` and
 * `<prefix>:*:meta` finds them. Keys of qscale's own records (`…:qscale:…`) and names that are
 * not queue names are passed over.
 */
export async function discoverBullmqQueues(
  redis: RedisClient,
  pattern: QueuePattern,
  limit: number,
): Promise<string[]> {
  const names = new Set<string>();
  const start = pattern.prefix.length + 1;
  for (const suffix of ['id', 'meta']) {
    const keys = await scanKeys(redis, `${escapeGlob(pattern.prefix)}:*:${suffix}`, limit * 4);
    for (const key of keys) {
      const name = key.slice(start, key.length - suffix.length - 1);
      if (!queueName.safeParse(name).success || !matchesPattern(name, pattern.pattern)) continue;
      names.add(name);
    }
  }
  return [...names].sort().slice(0, limit);
}

/** A prefix as a literal part of a SCAN MATCH pattern. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
