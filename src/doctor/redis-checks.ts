import type { Cluster, Redis } from 'ioredis';
import { isCluster, type RedisClient } from '../redis/redis-connection.js';
import type { DoctorCheck } from './doctor-check.js';
import { parseClusterNodes } from '../redis/cluster-nodes.js';

/** Parses `INFO` output into a field map. */
export function parseInfo(info: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) fields[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return fields;
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** One Redis node's `INFO`, by address. */
interface NodeInfo {
  address: string;
  info: Record<string, string>;
}

/** `INFO` of the node, or on a Cluster of every master (each holds a share of the queues). */
async function readInfos(redis: RedisClient): Promise<NodeInfo[]> {
  const nodes: Redis[] = isCluster(redis) ? redis.nodes('master') : [redis];
  if (nodes.length === 0) return [{ address: 'cluster', info: parseInfo(await redis.info()) }];
  return Promise.all(
    nodes.map(async (node) => ({
      address: `${node.options.host}:${node.options.port}`,
      info: parseInfo(await node.info()),
    })),
  );
}

/**
 * The cluster itself: `cluster_state:ok` (else it refuses every command), and no node the others
 * see as failing.
 */
async function clusterCheck(redis: Cluster): Promise<DoctorCheck> {
  const info = parseInfo(String(await redis.cluster('INFO')));
  const nodes = parseClusterNodes(String(await redis.cluster('NODES')));
  const masters = nodes.filter((node) => node.role === 'master').length;
  const replicas = nodes.length - masters;
  const failing = nodes
    .filter((node) => node.state === 'fail' || node.state === 'pfail')
    .map((node) => node.address);
  const slotsOk = Number(info.cluster_slots_ok ?? 0);
  const summary = `${masters} masters, ${replicas} replicas, ${slotsOk} of 16384 slots served`;
  if (info.cluster_state !== 'ok') {
    return {
      area: 'redis',
      name: 'cluster',
      status: 'FAIL',
      found: `cluster_state is ${info.cluster_state ?? 'unknown'}: ${summary}${failing.length ? `; failing: ${failing.join(', ')}` : ''}`,
      fix: 'a Redis Cluster that is not ok refuses commands: bring the failing masters back or fail them over (redis-cli --cluster check <node>, redis-cli --cluster fix <node>)',
    };
  }
  return {
    area: 'redis',
    name: 'cluster',
    status: failing.length > 0 ? 'WARN' : 'OK',
    found: `cluster_state ok: ${summary}${failing.length ? `; failing: ${failing.join(', ')}` : ''}`,
    ...(failing.length > 0 && {
      fix: 'a failing node takes its replicas’ redundancy with it: restart it, or remove it (redis-cli --cluster del-node)',
    }),
    details: { masters, replicas, slotsOk, failing },
  };
}

/**
 * Redis as BullMQ needs it: reachable and quick, a recent version, `maxmemory-policy noeviction`
 * (any eviction policy silently deletes job keys under memory pressure), and memory headroom.
 * Reads `INFO` only (managed Redis often forbids `CONFIG GET`). On a Cluster every master is read
 * (the worst one is reported) and the cluster's own state is checked too.
 */
export async function redisChecks(
  redis: RedisClient,
  target: string,
  /** Turns a failed PING into what happened (`connection refused at …`). */
  explain: (error: unknown) => string = (error) => (error as Error).message,
  /** Why Redis already showed itself unreachable (no answer to the connection): no PING then. */
  unanswered?: Error,
): Promise<{ checks: DoctorCheck[]; reachable: boolean }> {
  const started = performance.now();
  try {
    if (unanswered) throw unanswered;
    await redis.ping();
  } catch (error) {
    return {
      reachable: false,
      checks: [
        {
          area: 'redis',
          name: 'reachable',
          status: 'FAIL',
          found: `${target} does not answer: ${explain(error)}`,
          fix: 'check REDIS_URL (or REDIS_SENTINELS, REDIS_CLUSTER_NODES), that Redis runs, and that network policies let this pod reach it',
        },
      ],
    };
  }
  const rttMs = performance.now() - started;
  const nodes = await readInfos(redis);
  const cluster = isCluster(redis);
  /** `127.0.0.1:7000: ` before a finding on a Cluster, nothing on a single node. */
  const on = (node: NodeInfo) => (cluster ? `${node.address}: ` : '');
  const checks: DoctorCheck[] = [
    {
      area: 'redis',
      name: 'reachable',
      status: rttMs > 50 ? 'WARN' : 'OK',
      found: `${target} answers PING in ${rttMs.toFixed(1)} ms`,
      ...(rttMs > 50 && {
        fix: 'a round trip over 50 ms slows every job: run Redis close to the workers',
      }),
      details: { rttMs: Number(rttMs.toFixed(2)) },
    },
  ];
  if (isCluster(redis)) checks.push(await clusterCheck(redis));

  const versions = nodes.map((node) => ({ node, version: node.info.redis_version ?? 'unknown' }));
  const oldest =
    versions.find(({ version }) => !versionAtLeast(version, 5, 0)) ??
    versions.find(({ version }) => !versionAtLeast(version, 6, 2)) ??
    versions[0]!;
  checks.push(
    versionAtLeast(oldest.version, 6, 2)
      ? {
          area: 'redis',
          name: 'version',
          status: 'OK',
          found: cluster
            ? `Redis ${[...new Set(versions.map((v) => v.version))].join(', ')} on ${nodes.length} masters`
            : `Redis ${oldest.version}`,
        }
      : {
          area: 'redis',
          name: 'version',
          status: versionAtLeast(oldest.version, 5, 0) ? 'WARN' : 'FAIL',
          found: `${on(oldest.node)}Redis ${oldest.version}`,
          fix: 'BullMQ needs Redis 5 or later and is tested on 6.2+: upgrade Redis',
        },
  );

  const evicting = nodes.filter((node) => node.info.maxmemory_policy !== 'noeviction');
  checks.push(
    evicting.length === 0
      ? { area: 'redis', name: 'maxmemory-policy', status: 'OK', found: 'noeviction' }
      : {
          area: 'redis',
          name: 'maxmemory-policy',
          status: 'FAIL',
          found: `${evicting.map((node) => `${on(node)}maxmemory-policy is ${node.info.maxmemory_policy ?? 'unknown'}`).join('; ')}: under memory pressure Redis deletes keys, and with them queued jobs`,
          fix: `set maxmemory-policy to noeviction${cluster ? ' on every master' : ''}: redis-cli CONFIG SET maxmemory-policy noeviction, and make it permanent (maxmemory-policy noeviction in redis.conf, or the parameter group of a managed Redis)`,
        },
  );

  const usage = nodes.map((node) => {
    const used = Number(node.info.used_memory ?? 0);
    const max = Number(node.info.maxmemory ?? 0);
    return { node, used, max, ratio: max > 0 ? used / max : 0 };
  });
  const fullest = usage.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  if (fullest.max > 0) {
    const { used, max, ratio } = fullest;
    checks.push({
      area: 'redis',
      name: 'memory',
      status: ratio > 0.9 ? 'FAIL' : ratio > 0.75 ? 'WARN' : 'OK',
      found: `${on(fullest.node)}${mib(used)} used of maxmemory ${mib(max)} (${(ratio * 100).toFixed(0)} %)${cluster ? ', the fullest master' : ''}`,
      ...(ratio > 0.75 && {
        fix: 'raise maxmemory, or keep less: finished files (FILE_RETENTION_SECONDS, MAX_FILES) and finished jobs (KEEP_COMPLETED_SECONDS/_JOBS, KEEP_FAILED_SECONDS/_JOBS); with noeviction a full Redis refuses new jobs',
      }),
      details: { usedBytes: used, maxBytes: max },
    });
  } else {
    const used = usage.reduce((sum, u) => sum + u.used, 0);
    checks.push({
      area: 'redis',
      name: 'memory',
      status: 'OK',
      found: `${mib(used)} used${cluster ? ` on ${nodes.length} masters` : ''}, no maxmemory limit (the host's memory is the limit)`,
      details: { usedBytes: used },
    });
  }
  return { checks, reachable: true };
}
