import { connectedBullmqWorkers, type ConnectedWorkers } from '../queue/bullmq-workers.js';
import { parseClusterNodes, type ClusterNode } from '../queue/cluster-nodes.js';
import { withTimeout } from '../queue/with-timeout.js';
import type { Config } from '../config/config.js';
import { QueueKeys } from '../queue/queue-keys.js';
import { QueueSampler } from '../queue/queue-sampler.js';
import { workerTotals, type QueueSnapshot } from '../queue/queue-snapshot.js';
import { createRedis, describeRedis, isCluster } from '../queue/redis-connection.js';

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
  queue?: { name: string; prefix: string } & Pick<
    QueueSnapshot,
    'paused' | 'counts' | 'backlog' | 'delayedDue' | 'oldestJobAgeSeconds' | 'enqueuedTotal'
  >;
  /** How many workers have a live telemetry heartbeat (all of them, listed or not). */
  liveHeartbeats?: number;
  /** Workers with a live telemetry heartbeat: the 100 longest-running. */
  heartbeats?: {
    id: string;
    concurrency: number;
    busy: number;
    utilization: number;
    heartbeatAgeSeconds: number;
  }[];
  /** BullMQ's own worker registry (CLIENT LIST): instrumented or not. */
  workers?: ConnectedWorkers;
}

/** Everything `qscale status` reports: one connection, a few reads, never a write. */
export async function collectStatus(config: Config, timeoutMs = 3000): Promise<StatusReport> {
  const target = describeRedis(config.redis);
  const redis = createRedis(config.redis, {
    role: 'request',
    connectTimeoutMs: timeoutMs,
    commandTimeoutMs: timeoutMs,
    lazyConnect: true,
    noReconnect: true,
    connectionName: 'qscale:status',
  });
  redis.on('error', () => undefined);
  try {
    const started = performance.now();
    try {
      await withTimeout(redis.connect(), timeoutMs, 'connecting to Redis');
      await withTimeout(redis.ping(), timeoutMs, 'PING');
    } catch (error) {
      return { redis: { target, up: false, error: (error as Error).message } };
    }
    const latencyMs = Number((performance.now() - started).toFixed(2));
    const info = await redis.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1];
    const nodes = isCluster(redis)
      ? parseClusterNodes(String(await redis.cluster('NODES')))
      : undefined;
    const keys = new QueueKeys(config.queue.prefix, config.queue.name);
    const snapshot = await new QueueSampler(redis, keys, { ttlMs: 0, timeoutMs }).sampleQueue();
    const report: StatusReport = {
      redis: { target, up: true, latencyMs, ...(version && { version }), ...(nodes && { nodes }) },
      queue: {
        name: config.queue.name,
        prefix: config.queue.prefix,
        paused: snapshot.paused,
        counts: snapshot.counts,
        backlog: snapshot.backlog,
        delayedDue: snapshot.delayedDue,
        oldestJobAgeSeconds: snapshot.oldestJobAgeSeconds,
        enqueuedTotal: snapshot.enqueuedTotal,
      },
      liveHeartbeats: workerTotals(snapshot).live,
      heartbeats: snapshot.workers.map((worker) => ({
        id: worker.id,
        concurrency: worker.concurrency,
        busy: worker.busy,
        utilization: worker.utilization,
        heartbeatAgeSeconds: Math.max(0, (snapshot.sampledAt - worker.heartbeatAt) / 1000),
      })),
    };
    report.workers = await connectedBullmqWorkers(redis, keys);
    return report;
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
  const q = report.queue;
  if (q) {
    const c = q.counts;
    lines.push(`Queue     ${q.name} (prefix ${q.prefix})${q.paused ? '  PAUSED' : ''}`);
    lines.push(
      `Backlog   ${q.backlog}  (wait ${c.wait}, paused ${c.paused}, prioritized ${c.prioritized}, delayed due ${q.delayedDue})`,
    );
    lines.push(
      `Jobs      active ${c.active}  delayed ${c.delayed}  waiting-children ${c['waiting-children']}  completed ${c.completed}  failed ${c.failed}`,
    );
    lines.push(`Oldest    ${q.backlog > 0 ? formatAge(q.oldestJobAgeSeconds) : '-'}`);
  }
  const w = report.workers;
  if (w) {
    lines.push(
      w.count === null
        ? `Workers   unknown (${w.error})`
        : `Workers   ${w.count} connected${w.names.length ? `: ${w.names.join(', ')}` : ''}`,
    );
  }
  if (report.heartbeats) {
    const live = report.liveHeartbeats ?? report.heartbeats.length;
    lines.push(`Heartbeat ${live} live`);
    for (const h of report.heartbeats) {
      lines.push(
        `  ${h.id}  busy ${h.busy}/${h.concurrency}  utilization ${(h.utilization * 100).toFixed(0)}%  heartbeat ${h.heartbeatAgeSeconds.toFixed(1)} s ago`,
      );
    }
    if (live > report.heartbeats.length) {
      lines.push(`  … and ${live - report.heartbeats.length} more`);
    }
  }
  return lines.join('\n');
}
