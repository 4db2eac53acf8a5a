import type { WorkerNames } from '../kinds/driver.js';
import { currentWatchedQueues } from '../kinds/queue-discovery.js';
import type { QueueKind } from '../kinds/queue-kind.js';
import { driverOf } from '../kinds/registry.js';
import { parseClusterNodes, type ClusterNode } from '../redis/cluster-nodes.js';
import { withTimeout } from '../redis/with-timeout.js';
import type { Config } from '../config/config.js';
import { QueueSampler } from '../sampling/queue-sampler.js';
import { workerTotals, type QueueSnapshot, type TelemetrySource } from '../queue/queue-snapshot.js';
import { createRedis, describeRedis, isCluster } from '../redis/redis-connection.js';
import { connectionErrorExplainer } from '../redis/redis-errors.js';

/** One watched queue in `qscale status`. */
export interface QueueReport extends Pick<
  QueueSnapshot,
  'paused' | 'counts' | 'backlog' | 'delayedDue' | 'oldestJobAgeSeconds' | 'enqueuedTotal'
> {
  name: string;
  prefix: string;
  kind: QueueKind;
  /** `instrumented`: qscale telemetry in the workers; `derived`: BullMQ's or RQ's own records. */
  telemetry: TelemetrySource;
  /**
   * Workers with a live heartbeat (all of them, listed or not): qscale's telemetry heartbeat, or
   * for RQ the workers' own (their hash has not expired).
   */
  liveHeartbeats: number;
  /** Those workers: the 100 longest-running. */
  heartbeats: {
    id: string;
    concurrency: number;
    busy: number;
    utilization: number;
    heartbeatAgeSeconds: number;
  }[];
  /** BullMQ's own worker registry (CLIENT LIST), instrumented or not; RQ's registered workers. */
  workers: WorkerNames;
}

export interface StatusReport {
  redis: {
    target: string;
    up: boolean;
    latencyMs?: number;
    version?: string;
    error?: string;
    /** Redis Cluster only: every node, its role, link state and slots (from `CLUSTER NODES`). */
    nodes?: ClusterNode[];
  };
  /** Every watched queue (QUEUES, else QUEUE_NAME), in order. */
  queues?: QueueReport[];
}

/**
 * Everything `qscale status` reports: one connection, a few reads, never a write. Each step waits
 * at most `timeoutMs` (default REDIS_TIMEOUT_MS) for Redis.
 */
export async function collectStatus(
  config: Config,
  timeoutMs = config.redis.timeoutMs,
): Promise<StatusReport> {
  const target = describeRedis(config.redis);
  const redis = createRedis(config.redis, {
    role: 'request',
    connectTimeoutMs: timeoutMs,
    commandTimeoutMs: timeoutMs,
    lazyConnect: true,
    noReconnect: true,
    connectionName: 'qscale:status',
  });
  const explain = connectionErrorExplainer(redis);
  try {
    const started = performance.now();
    try {
      await withTimeout(redis.connect(), timeoutMs, 'connecting to Redis');
      await withTimeout(redis.ping(), timeoutMs, 'PING');
    } catch (error) {
      return { redis: { target, up: false, error: explain(error) } };
    }
    const latencyMs = Number((performance.now() - started).toFixed(2));
    const info = await redis.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1];
    const nodes = isCluster(redis)
      ? parseClusterNodes(String(await redis.cluster('NODES')))
      : undefined;
    const allKeys = (await currentWatchedQueues(redis, config)).queues.map((q) => q.keys);
    const sampler = new QueueSampler(redis, allKeys, {
      ttlMs: 0,
      timeoutMs,
      buckets: config.metrics.buckets,
    });
    const sample = await sampler.sample().finally(() => sampler.close());
    const queues: QueueReport[] = [];
    for (const [index, keys] of allKeys.entries()) {
      const snapshot = sample.queues[index]!;
      const live = workerTotals(snapshot).live;
      queues.push({
        name: keys.queue,
        prefix: keys.prefix,
        kind: keys.kind,
        telemetry: snapshot.telemetry ?? 'instrumented',
        paused: snapshot.paused,
        counts: snapshot.counts,
        backlog: snapshot.backlog,
        delayedDue: snapshot.delayedDue,
        oldestJobAgeSeconds: snapshot.oldestJobAgeSeconds,
        enqueuedTotal: snapshot.enqueuedTotal,
        liveHeartbeats: live,
        heartbeats: snapshot.workers.map((worker) => ({
          id: worker.id,
          concurrency: worker.concurrency,
          busy: worker.busy,
          utilization: worker.utilization,
          heartbeatAgeSeconds: Math.max(0, (snapshot.sampledAt - worker.heartbeatAt) / 1000),
        })),
        workers: await driverOf(keys.kind).workerNames(redis, keys, snapshot),
      });
    }
    return {
      redis: { target, up: true, latencyMs, ...(version && { version }), ...(nodes && { nodes }) },
      queues,
    };
  } finally {
    redis.disconnect();
  }
}

function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The report as a few aligned lines for people. */
export function formatStatus(report: StatusReport): string {
  const lines: string[] = [];
  const r = report.redis;
  lines.push(
    r.up
      ? `Redis     ${r.target}  up  ${r.latencyMs} ms${r.version ? `  (redis ${r.version})` : ''}`
      : `Redis     ${r.target}  DOWN  ${r.error}`,
  );
  for (const node of r.nodes ?? []) {
    lines.push(
      `  ${node.role.padEnd(7)} ${node.address.padEnd(21)} ${node.state.padEnd(9)} ${node.slots}`,
    );
  }
  for (const q of report.queues ?? []) {
    const c = q.counts;
    const nouns = driverOf(q.kind).nouns;
    const where = nouns.where({ kind: q.kind, prefix: q.prefix, name: q.name });
    const telemetry = q.telemetry === 'derived' ? '  (no qscale telemetry: numbers derived)' : '';
    lines.push(`Queue     ${q.name} (${where})${q.paused ? '  PAUSED' : ''}${telemetry}`);
    lines.push(
      `Backlog   ${q.backlog}  ${nouns.backlog({ queue: q.name, counts: c, delayedDue: q.delayedDue })}`,
    );
    lines.push(`Jobs      ${nouns.jobs(c)}`);
    lines.push(`Oldest    ${q.backlog > 0 ? formatAge(q.oldestJobAgeSeconds) : '-'}`);
    const w = q.workers;
    lines.push(
      w.count === null
        ? `Workers   unknown (${w.error})`
        : `Workers   ${w.count} ${nouns.workersVerb}${w.names.length ? `: ${w.names.join(', ')}` : ''}`,
    );
    if (q.telemetry === 'instrumented' || driverOf(q.kind).listsDerivedWorkers) {
      const live = q.liveHeartbeats;
      lines.push(`Heartbeat ${live} live`);
      for (const h of q.heartbeats) {
        lines.push(
          `  ${h.id}  busy ${h.busy}/${h.concurrency}  utilization ${(h.utilization * 100).toFixed(0)}%  heartbeat ${h.heartbeatAgeSeconds.toFixed(1)} s ago`,
        );
      }
      if (live > q.heartbeats.length) {
        lines.push(`  … and ${live - q.heartbeats.length} more`);
      }
    }
  }
  return lines.join('\n');
}
