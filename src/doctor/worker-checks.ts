import type { RedisClient } from '../redis/redis-connection.js';
import { mergeHistograms, quantileUpperBound } from '../queue/histogram-fields.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import { workerTotals, type QueueSnapshot } from '../queue/queue-snapshot.js';
import { driverOf } from '../kinds/registry.js';
import type { DoctorCheck } from './doctor-check.js';

const HOUR_MS = 3_600_000;

export interface WorkerCheckOptions {
  /** Workers that should be live (e.g. the Deployment's replicas); undefined: not compared. */
  expectedWorkers?: number;
  /** A job running longer than max(this, 5 × p99 processing time) makes its worker "stuck". */
  stuckAfterSeconds: number;
  now: number;
}

const MISSING_FIX =
  'look at the missing workers: kubectl -n <ns> get pods -l app.kubernetes.io/component=worker; kubectl logs <pod>';

/**
 * The workers: live workers vs expected, workers stuck on one job far longer than the p99
 * processing time, active jobs that no live worker holds (a worker died), and stalled-job
 * recoveries in the last hour (from BullMQ's events stream). Counts cover every live worker;
 * names and stuck jobs, the workers the sample lists (the longest-running ones). Live workers come
 * from qscale's heartbeats, or for workers without telemetry from BullMQ's worker list or RQ's
 * worker registry (the sample's derived numbers).
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
  const driver = driverOf(keys.kind);
  const nouns = driver.nouns;
  const { noun, source } = nouns.whoCounts(snapshot);
  const derivedNames = snapshot.derived?.workerNames ?? [];
  const unlisted = totals.live - live.length - derivedNames.length;
  const names =
    [...live.map((w) => `${w.id} (busy ${w.busy}/${w.concurrency})`), ...derivedNames].join(', ') +
    (unlisted > 0 ? ` and ${unlisted} more` : '');
  const expected = options.expectedWorkers;
  const startFix = nouns.startWorkers(snapshot.queue);
  if (snapshot.derived && !snapshot.derived.workersKnown) {
    checks.push({
      area: 'workers',
      name: 'live workers',
      status: 'WARN',
      ...nouns.workersUnknown(snapshot),
      details: { live: null, source },
    });
  } else if (totals.live === 0 && snapshot.backlog > 0) {
    checks.push({
      area: 'workers',
      name: 'live workers',
      status: 'FAIL',
      found: `no live worker (${noun}: 0), and ${snapshot.backlog} jobs are waiting`,
      fix: startFix,
      details: { live: 0, source },
    });
  } else if (expected !== undefined && totals.live < expected) {
    checks.push({
      area: 'workers',
      name: 'live workers',
      status: 'WARN',
      found: `${totals.live} of ${expected} expected (${noun})${names ? `: ${names}` : ''}`,
      fix: MISSING_FIX,
      details: { live: totals.live, expected, source },
    });
  } else {
    checks.push({
      area: 'workers',
      name: 'live workers',
      status: 'OK',
      found:
        totals.live > 0
          ? `${totals.live} live (${noun}): ${names}`
          : 'no live worker (and nothing waiting)',
      details: { live: totals.live, source, ...(expected !== undefined && { expected }) },
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
  const unmeasured = snapshot.telemetry === 'derived' ? nouns.stuckUnmeasured : undefined;
  checks.push({
    area: 'workers',
    name: 'stuck workers',
    status: stuck.length > 0 ? 'WARN' : 'OK',
    found:
      unmeasured ??
      (stuck.length > 0
        ? `${stuck.map((w) => `${w.id} has run one job for ${w.runningSeconds.toFixed(0)} s`).join('; ')} (limit ${limitSeconds.toFixed(0)} s: 5 × p99 ${p99 ?? '?'} s, at least ${options.stuckAfterSeconds} s)`
        : `no job has run longer than ${limitSeconds.toFixed(0)} s (5 × p99 processing time ${p99 === undefined ? 'unknown' : `≤ ${p99} s`}, at least ${options.stuckAfterSeconds} s)`),
    ...(stuck.length > 0 && {
      fix: 'look at the worker logs for that job; restarting the worker hands the job to another one (after JOB_LOCK_MS)',
    }),
    details: { limitSeconds, p99Seconds: p99 ?? null, stuck },
  });

  const workersUnknown = snapshot.derived !== undefined && !snapshot.derived.workersKnown;
  const orphaned = !workersUnknown && totals.live === 0 && snapshot.counts.active > 0;
  const activeNoun = nouns.active;
  checks.push({
    area: 'workers',
    name: 'active jobs without a worker',
    status: orphaned ? 'FAIL' : 'OK',
    found: orphaned
      ? `${snapshot.counts.active} ${activeNoun} but no live worker: their worker died`
      : workersUnknown
        ? `${snapshot.counts.active} ${activeNoun}; live workers cannot be counted`
        : `${snapshot.counts.active} ${activeNoun}, ${totals.busy} busy slots on ${totals.live} live workers`,
    ...(orphaned && {
      fix: nouns.orphanedJobs,
    }),
  });

  if (!driver.stalledSince) return checks;
  const stalled = await driver.stalledSince(redis, keys, options.now - HOUR_MS);
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
