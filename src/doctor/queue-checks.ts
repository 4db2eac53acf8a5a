import type { RedisClient } from '../redis/redis-connection.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import type { QueueSnapshot } from '../queue/queue-snapshot.js';
import type { DoctorCheck } from './doctor-check.js';
import { driverOf } from '../kinds/registry.js';

const HOUR_MS = 3_600_000;
/** Failed jobs of the last hour whose error message is read (the newest ones). */
const FAILED_SAMPLE = 500;

export interface QueueCheckOptions {
  /** A backlog job older than this is a warning, in seconds. */
  maxJobAgeSeconds: number;
  now: number;
}

/**
 * The queue: counts per state, the oldest job in the backlog, and the jobs that failed in the last
 * hour grouped by error message (BullMQ scores its failed set by finish time).
 */
export async function queueChecks(
  redis: RedisClient,
  keys: QueueKeys,
  snapshot: QueueSnapshot,
  options: QueueCheckOptions,
): Promise<DoctorCheck[]> {
  const driver = driverOf(keys.kind);
  const checks: DoctorCheck[] = [
    {
      area: 'queue',
      name: 'jobs',
      status: snapshot.paused ? 'WARN' : 'OK',
      ...driver.nouns.jobsCheck(snapshot),
    },
  ];

  const age = snapshot.oldestJobAgeSeconds;
  checks.push({
    area: 'queue',
    name: 'oldest job',
    status: age > options.maxJobAgeSeconds ? 'WARN' : 'OK',
    found:
      snapshot.backlog > 0
        ? `the oldest job in the backlog has waited ${age.toFixed(1)} s`
        : 'the backlog is empty',
    ...(age > options.maxJobAgeSeconds && {
      fix: `older than ${options.maxJobAgeSeconds} s: add workers (or check they are running and not stuck, below)`,
    }),
    details: { oldestJobAgeSeconds: age },
  });

  const since = await unacknowledgedSince(redis, keys, options.now);
  const failures = await driver.failuresSince(redis, keys, since);
  const reasons = new Map<string, number>();
  for (const error of failures.messages.slice(0, FAILED_SAMPLE)) {
    const message = error.slice(0, 200);
    reasons.set(message, (reasons.get(message) ?? 0) + 1);
  }
  const top = [...reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
  // A kind that keeps no failed jobs (Celery) heard failures only from some moment on.
  const heardSeconds =
    failures.heardSince !== undefined && failures.heardSince > since
      ? Math.max(0, Math.round((Date.now() - failures.heardSince) / 1000))
      : undefined;
  checks.push(failuresCheck(failures.count, top, failures.fix, failures.approximate, heardSeconds));
  return checks;
}

function failuresCheck(
  failedLastHour: number,
  top: [string, number][],
  fix: string,
  approximate = false,
  heardSeconds?: number,
): DoctorCheck {
  const partial = heardSeconds !== undefined;
  const window = partial ? `in the ${heardSeconds} s its events were heard` : 'in the last hour';
  const earlier = partial
    ? '; failures before that are unknown: the queue keeps no failed jobs, only its events tell (the sidecar, which listens all the time, counts them in its metrics; or read the worker logs)'
    : '';
  return {
    area: 'queue',
    name: 'failures (last hour)',
    status: failedLastHour > 0 ? 'WARN' : 'OK',
    found:
      failedLastHour > 0
        ? `${approximate || partial ? 'at least ' : ''}${failedLastHour} jobs failed ${window} (not acknowledged); most common: ${top.map(([m, n]) => `${n}× "${m}"`).join('; ')}${earlier}`
        : partial
          ? `no job failure heard ${window}${earlier}`
          : 'no job failed in the last hour (or every failure was acknowledged)',
    ...(failedLastHour > 0 && { fix }),
    details: {
      failedLastHour,
      topErrors: top.map(([message, count]) => ({ message, count })),
      ...(partial && { heardSeconds, earlierUnknown: true }),
    },
  };
}

/**
 * Where the failures worth a warning start: an hour ago, or just after the last time an operator
 * acknowledged the queue's failures (`qscale jobs ack-failures`), whichever is later. Retried and
 * removed jobs have left the failed set already.
 */
async function unacknowledgedSince(
  redis: RedisClient,
  keys: QueueKeys,
  now: number,
): Promise<number> {
  const acknowledged = Number(await redis.get(keys.failuresAcknowledged()));
  return Math.max(now - HOUR_MS, Number.isFinite(acknowledged) ? acknowledged + 1 : 0);
}
