/**
 * Shared helpers of the benchmarks: a private redis-server that is stopped even on error or
 * Ctrl-C, order statistics, Redis command counts and CPU time from `INFO commandstats`, and a count of the
 * writes a client makes to its socket.
 */
import type { Redis } from 'ioredis';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';

/**
 * Runs `body` against a redis-server of its own on a free loopback port (never the shared 6379)
 * and stops that server afterwards, whether `body` resolves, throws, or the process is
 * interrupted with SIGINT/SIGTERM.
 */
export async function withRedisServer<T>(
  body: (server: TestRedisServer) => Promise<T>,
): Promise<T> {
  const server = await startRedisServer();
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping the benchmark's redis-server`);
    server.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body(server);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server.stop();
  }
}

/** The p-th percentile (0..100) by nearest rank; `values` need not be sorted. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** The median (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Per command (`cmdstat_<name>:calls=N,usec=M,…`): calls and CPU microseconds, since start-up. */
export async function commandStats(
  redis: Redis,
): Promise<{ calls: Map<string, number>; usec: Map<string, number> }> {
  const info = await redis.info('commandstats');
  const calls = new Map<string, number>();
  const usec = new Map<string, number>();
  for (const line of info.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (match) {
      calls.set(match[1]!, Number(match[2]));
      usec.set(match[1]!, Number(match[3]));
    }
  }
  return { calls, usec };
}

/** `after - before`, per command, leaving out commands whose count did not change. */
export function callsDelta(
  before: Map<string, number>,
  after: Map<string, number>,
): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d !== 0) delta.set(name, d);
  }
  return delta;
}

/** Adds `delta` into `total`, per command. */
export function addCalls(total: Map<string, number>, delta: Map<string, number>): void {
  for (const [name, n] of delta) total.set(name, (total.get(name) ?? 0) + n);
}

/** Sum of the counts of a per-command map. */
export function sumCalls(calls: Map<string, number>): number {
  let sum = 0;
  for (const n of calls.values()) sum += n;
  return sum;
}

/**
 * Counts the writes an ioredis client makes to its socket from now on. ioredis writes a plain
 * command with one `stream.write` and a whole pipeline with one, so this counts sends (requests
 * that leave the client), not commands. Call it once the client is connected.
 */
export function countSocketWrites(redis: Redis): { readonly count: number } {
  const stream = redis.stream;
  const counter = { count: 0 };
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((...args: unknown[]) => {
    counter.count++;
    return write(...args);
  }) as typeof stream.write;
  return counter;
}

/** `1234567` → `1 234 567`. */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

export { envPositiveInt, sleep } from './bench-env.js';
