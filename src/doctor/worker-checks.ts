import type { ConnectedWorkers } from '../queue/bullmq-workers.js';
import type { RedisClient } from '../queue/redis-connection.js';
import { mergeHistograms, quantileUpperBound } from '../queue/histogram-fields.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import { workerTotals, type QueueSnapshot } from '../queue/queue-snapshot.js';
import type { DoctorCheck } from './doctor-check.js';

const HOUR_MS = 3_600_000;

export interface WorkerCheckOptions {
  /** Workers that should be live (e.g. the Deployment's replicas); undefined: not compared. */
  expectedWorkers?: number;
  /** A job running longer than max(this, 5 × p99 processing time) makes its worker "stuck". */
  stuckAfterSeconds: number;
  now: number;
  /**
   * The workers BullMQ lists for the queue (CLIENT LIST), asked when none sends qscale heartbeats:
   * an app whose workers run without qscale telemetry still has workers.
   */
  connected?: ConnectedWorkers;
}

/**
 * The workers: live heartbeats vs expected, workers stuck on one job far longer than the p99
 * processing time, active jobs that no live worker holds (a worker died), and stalled-job
 * recoveries in the last hour (from BullMQ's events stream). Counts cover every live worker;
 * names and stuck jobs, the workers the sample lists (the longest-running ones).
 */
export async function workerChecks(
  redis: RedisClient,
  keys: QueueKeys,
  snapshot: QueueSnapshot,
  options: WorkerCheckOptions,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const live = snapshot.workers;
  const totals = workerTotals(snapshot);
  const unlisted = totals.live - live.length;
  const names =
    live.map((w) => `${w.id} (busy ${w.busy}/${w.concurrency})`).join(', ') +
    (unlisted > 0 ? ` and ${unlisted} more` : '');
  const expected = options.expectedWorkers;
  // Workers without qscale telemetry, as BullMQ's own registry lists them.
  const untracked = totals.live === 0 ? (options.connected?.count ?? 0) : 0;
  if (untracked > 0) {
    const listed = options.connected && 'names' in options.connected ? options.connected.names : [];
    const short = expected !== undefined && untracked < expected;
    checks.push({
      area: 'workers',
      name: 'live workers',
      status: short ? 'WARN' : 'OK',
      found: `${untracked}${expected !== undefined ? ` of ${expected} expected` : ''} workers connected as BullMQ lists them (${listed.join(', ')}), none with qscale telemetry: worker counts here are BullMQ's (exact); busy slots, utilization and processing times are not measured`,
      ...(short && {
        fix: 'look at the missing workers: kubectl -n <ns> get pods -l app.kubernetes.io/component=worker; kubectl logs <pod>',
      }),
      details: {
        live: 0,
        bullmqWorkers: untracked,
        source: 'bullmq',
        ...(expected !== undefined && { expected }),
      },
    });
  } else if (totals.live === 0 && snapshot.backlog > 0) {
    checks.push({
      area: 'workers',
      name: 'live workers',
      status: 'FAIL',
      found: `no worker has a live heartbeat, and ${snapshot.backlog} jobs are waiting`,
      fix: 'start workers (qscale worker; in Kubernetes: kubectl -n <ns> get pods -l app.kubernetes.io/component=worker, and the autoscaler below)',
    });
  } else if (expected !== undefined && totals.live < expected) {
    checks.push({
      area: 'workers',
      name: 'live workers',
      status: 'WARN',
      found: `${totals.live} of ${expected} expected workers have a live heartbeat${names ? `: ${names}` : ''}`,
      fix: 'look at the missing workers: kubectl -n <ns> get pods -l app.kubernetes.io/component=worker; kubectl logs <pod>',
      details: { live: totals.live, expected },
    });
  } else {
    checks.push({
      area: 'workers',
      name: 'live workers',
      status: 'OK',
      found:
        totals.live > 0 ? `${totals.live} live: ${names}` : 'no live worker (and nothing waiting)',
      details: { live: totals.live, ...(expected !== undefined && { expected }) },
    });
  }

  const p99 = quantileUpperBound(
    mergeHistograms(snapshot.processing.completed, snapshot.processing.failed),
    0.99,
  );
  const limitSeconds = Math.max(options.stuckAfterSeconds, 5 * (p99 ?? 0));
  const stuck = live
    .filter((w) => w.oldestJobStartedAt > 0)
    .map((w) => ({ id: w.id, runningSeconds: (options.now - w.oldestJobStartedAt) / 1000 }))
    .filter((w) => w.runningSeconds > limitSeconds);
  checks.push({
    area: 'workers',
    name: 'stuck workers',
    status: stuck.length > 0 ? 'WARN' : 'OK',
    found:
      stuck.length > 0
        ? `${stuck.map((w) => `${w.id} has run one job for ${w.runningSeconds.toFixed(0)} s`).join('; ')} (limit ${limitSeconds.toFixed(0)} s: 5 × p99 ${p99 ?? '?'} s, at least ${options.stuckAfterSeconds} s)`
        : `no job has run longer than ${limitSeconds.toFixed(0)} s (5 × p99 processing time ${p99 === undefined ? 'unknown' : `≤ ${p99} s`}, at least ${options.stuckAfterSeconds} s)`,
    ...(stuck.length > 0 && {
      fix: 'look at the worker logs for that job; restarting the worker hands the job to another one (after JOB_LOCK_MS)',
    }),
    details: { limitSeconds, p99Seconds: p99 ?? null, stuck },
  });

  const busySlots = totals.busy;
  const orphaned = totals.live === 0 && untracked === 0 && snapshot.counts.active > 0;
  checks.push({
    area: 'workers',
    name: 'active jobs without a worker',
    status: orphaned ? 'FAIL' : 'OK',
    found: orphaned
      ? `${snapshot.counts.active} jobs are active but no worker has a live heartbeat: their worker died`
      : untracked > 0
        ? `${snapshot.counts.active} active jobs, held by ${untracked} BullMQ workers without qscale telemetry`
        : `${snapshot.counts.active} active jobs, ${busySlots} busy slots on live workers`,
    ...(orphaned && {
      fix: 'start a worker: BullMQ hands a dead worker’s jobs to a live one once their lock (JOB_LOCK_MS) has expired',
    }),
  });

  // Stalled-job recoveries: BullMQ writes a `stalled` event when it takes a job back from a worker
  // that stopped renewing its lock. The events stream keeps the latest ~10 000 events.
  const events = await redis.xrevrange(
    keys.bull('events'),
    '+',
    `${options.now - HOUR_MS}-0`,
    'COUNT',
    10_000,
  );
  const stalled = events.filter(
    ([, fields]) => fields[0] === 'event' && fields[1] === 'stalled',
  ).length;
  checks.push({
    area: 'workers',
    name: 'stalled recoveries (last hour)',
    status: stalled > 0 ? 'WARN' : 'OK',
    found:
      stalled > 0
        ? `${stalled} jobs were taken back from workers that stopped renewing their lock (crashed, killed, or blocked too long)`
        : 'no stalled job in the last hour',
    ...(stalled > 0 && {
      fix: 'check for OOM-killed or restarting worker pods (kubectl get pods, kubectl describe pod) and for CPU-bound jobs that block the event loop longer than JOB_LOCK_MS',
    }),
    details: { stalledLastHour: stalled },
  });
  return checks;
}
