import type { RedisClient } from './redis-connection.js';
import type { QueueKeys } from './queue-keys.js';
import { lastLine, parseRqTime, readRqJobFields } from './rq-job-fields.js';

/** One failed job as the status page lists it. */
export interface RecentFailure {
  /** The job id (for file jobs: the file id). */
  id: string;
  /** The BullMQ job name; for RQ, the job's description (`module.function(args)`). */
  name: string | null;
  /** `data.fileName` of a file job; null for other jobs or when the job hash is gone. */
  fileName: string | null;
  /** BullMQ's `failedReason`: the error message of the last attempt. */
  error: string | null;
  /** When it failed (epoch ms): the score of the `failed` sorted set (RQ: the job's `ended_at`). */
  failedAt: number;
}

/**
 * The latest `limit` failed jobs of a Python RQ queue, newest first (the failed registry is scored
 * by expiry: failure time + failure_ttl), with the last line of their traceback from the job hash's
 * `exc_info` or, on Redis ≥ 5, the job's latest result (`rq:results:<id>`). Read-only, two round
 * trips, bounded by `limit`.
 */
async function readRecentRqFailures(
  redis: RedisClient,
  keys: QueueKeys,
  limit: number,
): Promise<RecentFailure[]> {
  const ids = await redis.zrevrange(keys.rq('failed'), 0, limit - 1);
  const jobs = await readRqJobFields(redis, keys, ids, ['description', 'ended_at']);
  return ids.map((id, index) => {
    const { fields, traceback } = jobs[index]!;
    const [description = null, endedAt = null] = fields;
    return {
      id,
      name: description,
      fileName: null,
      error: shorten(lastLine(traceback)),
      failedAt: Math.floor(parseRqTime(endedAt ?? undefined) ?? 0),
    };
  });
}

/** Error messages longer than this are cut: the page lists them, it does not archive them. */
const MAX_ERROR_LENGTH = 500;

function fileNameOf(data: string | null): string | null {
  if (data === null) return null;
  try {
    const parsed = JSON.parse(data) as { fileName?: unknown } | null;
    return typeof parsed?.fileName === 'string' ? parsed.fileName : null;
  } catch {
    return null;
  }
}

function shorten(text: string | null): string | null {
  if (text === null || text.length <= MAX_ERROR_LENGTH) return text;
  return `${text.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}

/**
 * The latest `limit` failed jobs of a queue, newest first, with their error: `ZREVRANGE failed`
 * then one `HMGET` per job, pipelined (two round trips, read-only, cost bounded by `limit`). A job
 * whose hash was removed in between (removeOnFail) is listed without name and error.
 */
export async function readRecentFailures(
  redis: RedisClient,
  keys: QueueKeys,
  limit = 10,
): Promise<RecentFailure[]> {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new RangeError(`readRecentFailures limit must be an integer 1-1000, got ${limit}`);
  }
  if (keys.kind === 'rq') return readRecentRqFailures(redis, keys, limit);
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
      error: shorten(failedReason),
      failedAt: Number.isFinite(failedAt) ? failedAt : 0,
    };
  });
}
