import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/config.js';

/**
 * How a connection is used, which decides how it behaves while Redis is away:
 * - `request`: serves HTTP requests and CLI reads; while Redis is down a command fails after one
 *   reconnection attempt (at most ~2 s), so the API answers 503 instead of hanging, and the client
 *   keeps reconnecting.
 * - `worker`: BullMQ workers and other long-lived loops; commands wait for the reconnect, as BullMQ
 *   requires (`maxRetriesPerRequest: null`).
 */
export type RedisRole = 'request' | 'worker';

export interface CreateRedisOptions {
  role: RedisRole;
  /** Shown in `CLIENT LIST`; helps `qscale status` and operators tell clients apart. */
  connectionName?: string;
  /** Connect only on first use. @defaultValue false */
  lazyConnect?: boolean;
  /** Milliseconds before a connection attempt gives up. @defaultValue 5000 */
  connectTimeoutMs?: number;
}

/** The URL used when neither REDIS_URL nor a private Redis of `qscale start` is there. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Builds ioredis options (plain, TLS through rediss://, or Sentinel) from the validated config. */
export function redisOptionsFor(config: RedisConfig, options: CreateRedisOptions): RedisOptions {
  const url = new URL(config.url ?? DEFAULT_REDIS_URL);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  const common: RedisOptions = {
    ...(url.username && { username: decodeURIComponent(url.username) }),
    ...(url.password && { password: decodeURIComponent(url.password) }),
    db: Number.isInteger(db) ? db : 0,
    ...(url.protocol === 'rediss:' && { tls: { servername: url.hostname } }),
    ...(options.connectionName && { connectionName: options.connectionName }),
    lazyConnect: options.lazyConnect ?? false,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    // Reconnect forever, backing off up to 2 s: Redis restarts must heal on their own.
    retryStrategy: (times) => Math.min(times * 100, 2000),
    ...(options.role === 'request'
      ? { enableOfflineQueue: true, maxRetriesPerRequest: 1 }
      : { enableOfflineQueue: true, maxRetriesPerRequest: null }),
  };
  if (config.sentinels && config.sentinels.length > 0) {
    return {
      ...common,
      sentinels: config.sentinels,
      name: config.sentinelName,
      ...(config.sentinelPassword && { sentinelPassword: config.sentinelPassword }),
    };
  }
  return {
    ...common,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
  };
}

/** Creates an ioredis client for a role. The caller owns it and must `quit()` it. */
export function createRedis(config: RedisConfig, options: CreateRedisOptions): Redis {
  return new Redis(redisOptionsFor(config, options));
}

/** A printable form of the configured Redis without its password. */
export function describeRedis(config: RedisConfig): string {
  if (config.sentinels && config.sentinels.length > 0) {
    const nodes = config.sentinels.map((node) => `${node.host}:${node.port}`).join(',');
    return `sentinel://${nodes}/${config.sentinelName}`;
  }
  const url = new URL(config.url ?? DEFAULT_REDIS_URL);
  if (url.password) url.password = '***';
  return url.toString();
}
