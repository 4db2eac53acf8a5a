import type { FailuresSince } from '../driver.js';
import type { QueueKeys } from '../../queue/queue-keys.js';
import {
  checkFailuresLimit,
  fileNameOf,
  shortenError,
  type RecentFailure,
} from '../../queue/recent-failures.js';
import type { RedisClient } from '../../redis/redis-connection.js';

/**
 * The latest `limit` failed jobs of a BullMQ queue, newest first, with their error: `ZREVRANGE failed`
 * then one `HMGET` per job, pipelined (two round trips, read-only, cost bounded by `limit`). A job
 * whose hash was removed in between (removeOnFail) is listed without name and error.
 */
export async function readBullmqFailures(
  redis: RedisClient,
  keys: QueueKeys,
  limit = 10,
): Promise<RecentFailure[]> {
  checkFailuresLimit(limit);
  const flat = await redis.zrevrange(keys.bull('failed'), 0, limit - 1, 'WITHSCORES');
  const failed: { id: string; failedAt: number }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    failed.push({ id: flat[i]!, failedAt: Number(flat[i + 1]) });
  }
  if (failed.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const { id } of failed) pipeline.hmget(keys.bull(id), 'failedReason', 'name', 'data');
  const replies = (await pipeline.exec()) ?? [];
  return failed.map(({ id, failedAt }, index) => {
    const [error, reply] = replies[index] ?? [null, null];
    if (error) throw error;
    const [failedReason = null, name = null, data = null] = (reply ?? []) as (string | null)[];
    return {
      id,
      name,
      fileName: fileNameOf(data),
      error: shortenError(failedReason),
      failedAt: Number.isFinite(failedAt) ? failedAt : 0,
    };
  });
}

/** Failed jobs scored at or after `since` (BullMQ scores its failed set by failure time). */
export async function bullmqFailuresSince(
  redis: RedisClient,
  keys: QueueKeys,
  since: number,
  sample: number,
): Promise<FailuresSince> {
  const ids = await redis.zrevrangebyscore(keys.bull('failed'), '+inf', since, 'LIMIT', 0, sample);
  const count = await redis.zcount(keys.bull('failed'), since, '+inf');
  const messages: string[] = [];
  if (ids.length > 0) {
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hget(keys.bull(id), 'failedReason');
    for (const [, reason] of (await pipeline.exec()) ?? []) {
      messages.push(String(reason ?? 'no message'));
    }
  }
  return {
    count,
    approximate: false,
    messages,
    fix: 'read the errors above (qscale jobs list --state failed); a file that cannot be parsed fails for good, other errors are retried up to JOB_ATTEMPTS; once handled, retry or remove them, or acknowledge them: qscale jobs ack-failures',
  };
}
