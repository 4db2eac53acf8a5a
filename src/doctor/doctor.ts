import { connectionErrorExplainer } from '../redis/redis-errors.js';
import type { Config } from '../config/config.js';
import { QueueSampler } from '../sampling/queue-sampler.js';
import { createRedis, describeRedis } from '../redis/redis-connection.js';
import { RateTracker } from '../scaling/queue-rates.js';
import { autoscalingChecks, type ScaledObjectInfo } from './autoscaling-checks.js';
import { exitCodeFor, worstStatus, type CheckStatus, type DoctorCheck } from './doctor-check.js';
import { queueChecks } from './queue-checks.js';
import { redisChecks } from './redis-checks.js';
import { workerChecks } from './worker-checks.js';
import { withTimeout } from '../redis/with-timeout.js';
import { currentWatchedQueues } from '../kinds/queue-discovery.js';

/** What the Kubernetes side found, when there is a cluster to ask. */
export interface KubernetesFindings {
  checks: DoctorCheck[];
  scaledObject?: ScaledObjectInfo;
  /** The worker Deployment's desired replicas. */
  expectedWorkers?: number;
}

export interface DoctorOptions {
  /** A backlog job older than this is a warning, in seconds. @defaultValue 600 */
  maxJobAgeSeconds?: number;
  /** Minimum run time of one job before its worker counts as stuck, in seconds. @defaultValue 60 */
  stuckAfterSeconds?: number;
  /** Workers that should be live; default: the worker Deployment's replicas, if known. */
  expectedWorkers?: number;
  /** Asks Kubernetes; absent or resolving to undefined when there is no cluster. */
  kubernetes?: () => Promise<KubernetesFindings | undefined>;
  /** Milliseconds before Redis counts as unreachable. @defaultValue REDIS_TIMEOUT_MS */
  timeoutMs?: number;
}

export interface DoctorReport {
  status: CheckStatus;
  exitCode: 0 | 1 | 2;
  checks: DoctorCheck[];
}

/** The error when it is withTimeout's own (Redis did not answer in time), else undefined. */
function timedOut(error: unknown): Error | undefined {
  return error instanceof Error && /timed out after \d+ ms$/.test(error.message)
    ? error
    : undefined;
}

/** Every troubleshooting check in one run: Redis, queue, workers, Kubernetes, autoscaling. */
export async function runDoctor(
  config: Config,
  options: DoctorOptions = {},
): Promise<DoctorReport> {
  const opts = {
    maxJobAgeSeconds: 600,
    stuckAfterSeconds: 60,
    timeoutMs: config.redis.timeoutMs,
    ...options,
  };
  const redis = createRedis(config.redis, {
    role: 'request',
    connectTimeoutMs: opts.timeoutMs,
    commandTimeoutMs: opts.timeoutMs,
    lazyConnect: true,
    noReconnect: true,
    connectionName: 'qscale:doctor',
  });
  const explain = connectionErrorExplainer(redis);
  const checks: DoctorCheck[] = [];
  try {
    // A frozen Redis accepts the connection but never answers its ready check: bound the wait,
    // and when it ran out, say so instead of waiting for a PING as long again.
    const connecting = redis.connect();
    const silent = await withTimeout(connecting, opts.timeoutMs, 'connecting to Redis').then(
      () => undefined,
      (error: unknown) => timedOut(error),
    );
    const redisResult = await redisChecks(redis, describeRedis(config.redis), explain, silent);
    checks.push(...redisResult.checks);
    const kubernetes = await (opts.kubernetes?.() ?? Promise.resolve(undefined)).catch(
      (error: unknown): KubernetesFindings => ({
        checks: [
          {
            area: 'kubernetes',
            name: 'api',
            status: 'WARN',
            found: `cannot ask Kubernetes: ${(error as Error).message}`,
            fix: 'check the kubeconfig (--kubeconfig) or the pod’s service account',
          },
        ],
      }),
    );
    if (redisResult.reachable) {
      const watched = await currentWatchedQueues(redis, config);
      const allKeys = watched.queues.map((q) => q.keys);
      if (config.metrics.queuePatterns.length > 0) {
        checks.push({
          area: 'queue',
          name: 'discovered queues',
          status: watched.leftOut > 0 ? 'WARN' : 'OK',
          found:
            `${allKeys.length} queues watched (QUEUES' patterns found ${allKeys.length - config.metrics.queues.length})` +
            (watched.leftOut > 0
              ? `; ${watched.leftOut} or more matching queues are left out by MAX_DISCOVERED_QUEUES (${config.metrics.maxDiscoveredQueues})`
              : ''),
          ...(watched.leftOut > 0 && {
            fix: 'raise MAX_DISCOVERED_QUEUES, or narrow the patterns in QUEUES',
          }),
          details: { watched: allKeys.length, leftOut: watched.leftOut },
        });
      }
      const sampler = new QueueSampler(redis, allKeys, {
        ttlMs: 0,
        timeoutMs: opts.timeoutMs,
        buckets: config.metrics.buckets,
      });
      const sample = await sampler.sample().finally(() => sampler.close());
      const now = Date.now();
      const expectedWorkers = opts.expectedWorkers ?? kubernetes?.expectedWorkers;
      for (const [index, keys] of allKeys.entries()) {
        const snapshot = sample.queues[index]!;
        const queueChecksFound: DoctorCheck[] = [];
        queueChecksFound.push(...(await queueChecks(redis, keys, snapshot, { ...opts, now })));
        queueChecksFound.push(
          ...(await workerChecks(redis, keys, snapshot, {
            stuckAfterSeconds: opts.stuckAfterSeconds,
            now,
            ...(expectedWorkers !== undefined && { expectedWorkers }),
          })),
        );
        // One sample gives the all-time mean processing time; rates need the exporter's history.
        const rates = new RateTracker(60).rates(snapshot);
        const autoscaling = autoscalingChecks(snapshot, rates, {
          available: kubernetes !== undefined,
          ...(kubernetes?.scaledObject && { scaledObject: kubernetes.scaledObject }),
        });
        // Several queues: each check says which one it is about.
        const named = (list: DoctorCheck[]) =>
          allKeys.length > 1
            ? list.map((check) => ({ ...check, name: `${check.name} [${keys.queue}]` }))
            : list;
        checks.push(...named(queueChecksFound));
        if (index === 0) checks.push(...(kubernetes?.checks ?? []));
        checks.push(...named(autoscaling));
      }
    } else {
      checks.push(...(kubernetes?.checks ?? []));
    }
    if (!kubernetes) {
      checks.push({
        area: 'kubernetes',
        name: 'cluster',
        status: 'OK',
        found: 'no kubeconfig and not in a cluster: Kubernetes checks skipped',
      });
    }
  } finally {
    redis.disconnect();
  }
  return { status: worstStatus(checks), exitCode: exitCodeFor(checks), checks };
}

/** The report for people: one line per check, the fix under each WARN and FAIL. */
export function formatDoctor(report: DoctorReport): string {
  const lines = report.checks.map((check) => {
    const head = `${check.status.padEnd(4)} ${check.area.padEnd(11)} ${check.name}: ${check.found}`;
    return check.fix && check.status !== 'OK' ? `${head}\n     → ${check.fix}` : head;
  });
  const counts = (status: CheckStatus) => report.checks.filter((c) => c.status === status).length;
  lines.push(
    `\n${report.status}: ${counts('OK')} ok, ${counts('WARN')} warnings, ${counts('FAIL')} failures`,
  );
  return lines.join('\n');
}
