import { inflateSync } from 'node:zlib';
import type { QueueKeys } from '../../queue/queue-keys.js';
import type { RedisClient } from '../../redis/redis-connection.js';

// Reading Python RQ's job hashes: its times, its compressed tracebacks, several jobs at once.

/** RQ's `%Y-%m-%dT%H:%M:%S.%fZ` (or without the fraction) as epoch ms; undefined when absent. */
export function parseRqTime(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z?$/.exec(value);
  if (!match) return undefined;
  const ms = Date.parse(`${match[1]}Z`);
  if (Number.isNaN(ms)) return undefined;
  // Microseconds as a whole number first: 0.57 * 1000 is 569.999…, 570000 / 1000 is 570.
  return ms + Number((match[2] ?? '').padEnd(6, '0')) / 1000;
}

/** The last non-empty line of a Python traceback: `ValueError: boom`. */
export function lastLine(text: string | null): string | null {
  if (text === null) return null;
  const lines = text.trimEnd().split('\n');
  return lines[lines.length - 1]?.trim() || null;
}

/** RQ's zlib-compressed `exc_info` (or, stored as a result, base64 of it) as text. */
export function inflateText(
  data: Buffer | string | null | undefined,
  base64 = false,
): string | null {
  if (!data || data.length === 0) return null;
  try {
    const bytes = base64 ? Buffer.from(String(data), 'base64') : Buffer.from(data);
    return inflateSync(bytes, { maxOutputLength: 1 << 20 }).toString('utf8');
  } catch {
    return base64 ? null : Buffer.from(data).toString('utf8');
  }
}

/**
 * A job's traceback: the hash's `exc_info`, or (RQ ≥ 1.12 on Redis ≥ 5) the `exc_string` of its
 * latest result in `rq:results:<id>`; null when it has none.
 */
export function rqTraceback(
  exc: Buffer | null,
  latestResult: [string, string[]][] | null,
): string | null {
  const text = inflateText(exc);
  if (text !== null) return text;
  const entry = latestResult?.[0]?.[1] ?? [];
  const at = entry.indexOf('exc_string');
  return at >= 0 ? inflateText(entry[at + 1], true) : null;
}

/**
 * `fields` of each RQ job in `ids` (null where absent) and its traceback, in one pipelined round
 * trip (three commands per job).
 */
export async function readRqJobFields(
  redis: RedisClient,
  keys: QueueKeys,
  ids: readonly string[],
  fields: readonly string[],
): Promise<{ fields: (string | null)[]; traceback: string | null }[]> {
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) {
    pipeline.hmget(`${keys.prefix}:job:${id}`, ...fields);
    pipeline.hgetBuffer(`${keys.prefix}:job:${id}`, 'exc_info');
    pipeline.xrevrange(`${keys.prefix}:results:${id}`, '+', '-', 'COUNT', 1);
  }
  const replies = (await pipeline.exec()) ?? [];
  return ids.map((_, index) => {
    const [values, exc, latest] = [0, 1, 2].map((k) => {
      const [error, reply] = replies[index * 3 + k] ?? [null, null];
      if (error) throw error;
      return reply;
    });
    return {
      fields: (values ?? []) as (string | null)[],
      traceback: rqTraceback(exc as Buffer | null, latest as [string, string[]][] | null),
    };
  });
}
