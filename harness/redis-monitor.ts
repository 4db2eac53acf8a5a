import type { Redis } from 'ioredis';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The commands a Redis server ran while `action` ran, as MONITOR shows them (every client's, those
 * inside scripts included), lower-cased: the way to see what a read costs. `client` becomes a
 * monitor and is disconnected. Use it on the test's own server only.
 */
export async function commandsDuring(
  client: Redis,
  action: () => Promise<unknown>,
): Promise<string[][]> {
  // The client's own handshake (its ready-check INFO) must not land in the watched window.
  await client.ping();
  const monitor = await client.monitor();
  const seen: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) =>
    seen.push([args[0]!.toLowerCase(), ...args.slice(1)]),
  );
  try {
    await sleep(50);
    await action();
    await sleep(100);
  } finally {
    monitor.removeAllListeners('monitor');
    monitor.disconnect();
    client.disconnect();
  }
  return seen;
}

/** Commands that never write: what a sidecar may send to an app's Redis. */
export const READ_ONLY_COMMANDS = new Set([
  'evalsha',
  'eval',
  'llen',
  'lindex',
  'lrange',
  'zcard',
  'zcount',
  'zrange',
  'zrevrange',
  'zrangebyscore',
  'zscore',
  'hget',
  'hmget',
  'hgetall',
  'hexists',
  'get',
  'exists',
  'smembers',
  'scard',
  'xrange',
  'xinfo',
  'xrevrange',
  'client',
  'info',
  'ping',
]);
