import type { RedisClient } from '../queue/redis-connection.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import type { QueueSnapshot } from '../queue/queue-snapshot.js';
import type { DoctorCheck } from './doctor-check.js';
import { readRecentFailures } from '../queue/recent-failures.js';

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
  const c = snapshot.counts;
  const checks: DoctorCheck[] = [
    snapshot.kind === 'rq'
      ? {
          area: 'queue',
          name: 'jobs',
          status: snapshot.paused ? 'WARN' : 'OK',
          found:
            `${snapshot.queue} (RQ)${snapshot.paused ? ': workers are SUSPENDED;' : ':'} backlog ${snapshot.backlog} ` +
            `(len of rq:queue:${snapshot.queue}), started ${c.active}, scheduled ${c.delayed}, ` +
            `deferred ${c['waiting-children']}, finished ${c.completed}, failed ${c.failed}`,
          ...(snapshot.paused && {
            fix: 'RQ workers are suspended (rq suspend): they take no job until `rq resume`',
          }),
          details: { counts: c, backlog: snapshot.backlog, suspended: snapshot.paused },
        }
      : {
          area: 'queue',
          name: 'jobs',
          status: snapshot.paused ? 'WARN' : 'OK',
          found:
            `${snapshot.queue}${snapshot.paused ? ' is PAUSED;' : ':'} backlog ${snapshot.backlog} ` +
            `(wait ${c.wait}, paused ${c.paused}, prioritized ${c.prioritized}, delayed due ${snapshot.delayedDue}), ` +
            `active ${c.active}, delayed ${c.delayed}, completed ${c.completed}, failed ${c.failed}`,
          ...(snapshot.paused && {
            fix: 'the queue is paused: no worker takes jobs until it is resumed (BullMQ queue.resume())',
          }),
          details: { counts: c, backlog: snapshot.backlog, paused: snapshot.paused },
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

  checks.push(
    snapshot.kind === 'rq'
      ? await rqFailures(redis, keys, options.now)
      : await bullmqFailures(redis, keys, options.now),
  );
  return checks;
}

function failuresCheck(
  failedLastHour: number,
  top: [string, number][],
  fix: string,
  approximate = false,
): DoctorCheck {
  return {
    area: 'queue',
    name: 'failures (last hour)',
    status: failedLastHour > 0 ? 'WARN' : 'OK',
    found:
      failedLastHour > 0
        ? `${approximate ? 'at least ' : ''}${failedLastHour} jobs failed in the last hour (not acknowledged); most common: ${top.map(([m, n]) => `${n}× "${m}"`).join('; ')}`
        : 'no job failed in the last hour (or every failure was acknowledged)',
    ...(failedLastHour > 0 && { fix }),
    details: { failedLastHour, topErrors: top.map(([message, count]) => ({ message, count })) },
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

/**
 * RQ scores its failed registry by expiry (failure time + failure_ttl), not by failure time: the
 * newest FAILED_SAMPLE entries are read and counted by their `ended_at`.
 */
async function rqFailures(redis: RedisClient, keys: QueueKeys, now: number): Promise<DoctorCheck> {
  const since = await unacknowledgedSince(redis, keys, now);
  const failures = await readRecentFailures(redis, keys, FAILED_SAMPLE);
  const recent = failures.filter((f) => f.failedAt >= since);
  const reasons = new Map<string, number>();
  for (const f of recent) {
    const message = (f.error ?? 'no message').slice(0, 200);
    reasons.set(message, (reasons.get(message) ?? 0) + 1);
  }
  const top = [...reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
  return failuresCheck(
    recent.length,
    top,
    `read the errors above (qscale jobs list --queue ${keys.queue} --state failed); retry with qscale jobs retry <id>, or acknowledge them once handled: qscale jobs ack-failures --queue ${keys.queue}`,
    recent.length === FAILED_SAMPLE,
  );
}

async function bullmqFailures(
  redis: RedisClient,
  keys: QueueKeys,
  now: number,
): Promise<DoctorCheck> {
  const since = await unacknowledgedSince(redis, keys, now);
  const ids = await redis.zrevrangebyscore(
    keys.bull('failed'),
    '+inf',
    since,
    'LIMIT',
    0,
    FAILED_SAMPLE,
  );
  const failedLastHour = await redis.zcount(keys.bull('failed'), since, '+inf');
  const reasons = new Map<string, number>();
  if (ids.length > 0) {
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hget(keys.bull(id), 'failedReason');
    for (const [, reason] of (await pipeline.exec()) ?? []) {
      const message = String(reason ?? 'no message').slice(0, 200);
      reasons.set(message, (reasons.get(message) ?? 0) + 1);
    }
  }
  const top = [...reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
  return failuresCheck(
    failedLastHour,
    top,
    'read the errors above (qscale jobs list --state failed); a file that cannot be parsed fails for good, other errors are retried up to JOB_ATTEMPTS; once handled, retry or remove them, or acknowledge them: qscale jobs ack-failures',
  );
}
