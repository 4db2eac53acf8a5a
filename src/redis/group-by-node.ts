import type { QueueKeys } from '../queue/queue-keys.js';
import { isCluster, slotOf, type RedisClient } from './redis-connection.js';

/**
 * Queues grouped by the Redis node that serves them: one group on a single node; on a Cluster,
 * one group per master (a pipeline may only hold keys of one node's slots).
 */
export function groupByNode(redis: RedisClient, queues: QueueKeys[]): QueueKeys[][] {
  if (!isCluster(redis)) return [queues];
  // ioredis sends a pipeline only when all its keys' slots are in one of its node groups, and
  // rejects it otherwise. Right after a MOVED its `slots` lists can disagree with those groups
  // (it rewrites the node list that a whole slot range shares), so the groups themselves decide.
  const groupBySlot = (redis as unknown as { _groupsBySlot?: (number | undefined)[] })
    ._groupsBySlot;
  const byNode = new Map<string, QueueKeys[]>();
  for (const k of queues) {
    const slot = slotOf(k.bull('wait'));
    const group = groupBySlot ? groupBySlot[slot] : redis.slots[slot]?.join(',');
    // Not known yet (before the first slot map, or a node just named by a MOVED): alone.
    const node = group === undefined ? `unknown:${k.queue}` : `group:${group}`;
    byNode.set(node, [...(byNode.get(node) ?? []), k]);
  }
  return [...byNode.values()];
}
