import type { RedisClient } from '../queue/redis-connection.js';
import type { DoctorCheck } from './doctor-check.js';

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

/**
 * Redis as BullMQ needs it: reachable and quick, a recent version, `maxmemory-policy noeviction`
 * (any eviction policy silently deletes job keys under memory pressure), and memory headroom.
 * Reads `INFO` only (managed Redis often forbids `CONFIG GET`).
 */
export async function redisChecks(
  redis: RedisClient,
  target: string,
): Promise<{ checks: DoctorCheck[]; reachable: boolean }> {
  const started = performance.now();
  try {
    await redis.ping();
  } catch (error) {
    return {
      reachable: false,
      checks: [
        {
          area: 'redis',
          name: 'reachable',
          status: 'FAIL',
          found: `${target} does not answer: ${(error as Error).message}`,
          fix: 'check REDIS_URL (or REDIS_SENTINELS), that Redis runs, and that network policies let this pod reach it',
        },
      ],
    };
  }
  const rttMs = performance.now() - started;
  const info = parseInfo(await redis.info());
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

  const version = info.redis_version ?? 'unknown';
  checks.push(
    versionAtLeast(version, 6, 2)
      ? { area: 'redis', name: 'version', status: 'OK', found: `Redis ${version}` }
      : {
          area: 'redis',
          name: 'version',
          status: versionAtLeast(version, 5, 0) ? 'WARN' : 'FAIL',
          found: `Redis ${version}`,
          fix: 'BullMQ needs Redis 5 or later and is tested on 6.2+: upgrade Redis',
        },
  );

  const policy = info.maxmemory_policy ?? 'unknown';
  checks.push(
    policy === 'noeviction'
      ? { area: 'redis', name: 'maxmemory-policy', status: 'OK', found: 'noeviction' }
      : {
          area: 'redis',
          name: 'maxmemory-policy',
          status: 'FAIL',
          found: `maxmemory-policy is ${policy}: under memory pressure Redis deletes keys, and with them queued jobs`,
          fix: 'set maxmemory-policy to noeviction: redis-cli CONFIG SET maxmemory-policy noeviction, and make it permanent (maxmemory-policy noeviction in redis.conf, or the parameter group of a managed Redis)',
        },
  );

  const used = Number(info.used_memory ?? 0);
  const max = Number(info.maxmemory ?? 0);
  if (max > 0) {
    const ratio = used / max;
    checks.push({
      area: 'redis',
      name: 'memory',
      status: ratio > 0.9 ? 'FAIL' : ratio > 0.75 ? 'WARN' : 'OK',
      found: `${mib(used)} used of maxmemory ${mib(max)} (${(ratio * 100).toFixed(0)} %)`,
      ...(ratio > 0.75 && {
        fix: 'raise maxmemory, or keep fewer finished jobs (KEEP_COMPLETED_JOBS, KEEP_FAILED_JOBS); with noeviction a full Redis refuses new jobs',
      }),
      details: { usedBytes: used, maxBytes: max },
    });
  } else {
    checks.push({
      area: 'redis',
      name: 'memory',
      status: 'OK',
      found: `${mib(used)} used, no maxmemory limit (the host's memory is the limit)`,
      details: { usedBytes: used },
    });
  }
  return { checks, reachable: true };
}
