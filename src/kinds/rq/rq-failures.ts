import type { FailuresSince } from '../driver.js';
import type { QueueKeys } from '../../queue/queue-keys.js';
import {
  checkFailuresLimit,
  shortenError,
  type RecentFailure,
} from '../../queue/recent-failures.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import { lastLine, parseRqTime, readRqJobFields } from './rq-job-fields.js';

/**
 * The latest `limit` failed jobs of a Python RQ queue, newest first (the failed registry is scored
 * by expiry: failure time + failure_ttl), with the last line of their traceback from the job hash's
 * `exc_info` or, on Redis ≥ 5, the job's latest result (`rq:results:<id>`). Read-only, two round
 * trips, bounded by `limit`.
 */
export async function readRqFailures(
  redis: RedisClient,
  keys: QueueKeys,
  limit: number,
): Promise<RecentFailure[]> {
  checkFailuresLimit(limit);
  const ids = await redis.zrevrange(keys.rq('failed'), 0, limit - 1);
  const jobs = await readRqJobFields(redis, keys, ids, ['description', 'ended_at']);
  return ids.map((id, index) => {
    const { fields, traceback } = jobs[index]!;
    const [description = null, endedAt = null] = fields;
    return {
      id,
      name: description,
      fileName: null,
      error: shortenError(lastLine(traceback)),
      failedAt: Math.floor(parseRqTime(endedAt ?? undefined) ?? 0),
    };
  });
}

/**
 * RQ scores its failed registry by expiry (failure time + failure_ttl), not by failure time: the
 * newest `sample` entries are read and counted by their `ended_at`.
 */
export async function rqFailuresSince(
  redis: RedisClient,
  keys: QueueKeys,
  since: number,
  sample: number,
): Promise<FailuresSince> {
  const failures = await readRqFailures(redis, keys, sample);
  const recent = failures.filter((f) => f.failedAt >= since);
  return {
    count: recent.length,
    approximate: recent.length === sample,
    messages: recent.map((f) => f.error ?? 'no message'),
    fix: `read the errors above (qscale jobs list --queue ${keys.queue} --state failed); retry with qscale jobs retry <id>, or acknowledge them once handled: qscale jobs ack-failures --queue ${keys.queue}`,
  };
}
