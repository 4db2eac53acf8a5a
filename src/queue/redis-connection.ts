import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/config.js';

/**
 * A connection to the configured Redis: a single node (plain or found through Sentinel) or a Redis
 * Cluster. Both speak the same commands; what differs (pipelines per node, `WAIT`, blocking
 * readers) goes through the helpers below.
 */
export type RedisClient = Redis | Cluster;

/**
 * How a connection is used, which decides how it behaves while Redis is away:
 * - `request`: serves HTTP requests and CLI reads; every command has a deadline (`REDIS_TIMEOUT_MS`)
 *   and fails after one reconnection attempt, so the API answers 503 instead of hanging on a Redis
 *   that is down or frozen, and the client keeps reconnecting.
 * - `worker`: BullMQ workers and other long-lived loops; commands wait for the reconnect, as BullMQ
 *   requires (`maxRetriesPerRequest: null`, no command deadline).
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
  /**
   * Give up at the first failed connection instead of reconnecting (one-shot commands such as
   * `status` and `doctor`). @defaultValue false
   */
  noReconnect?: boolean;
  /** A request-role command's deadline in ms. @defaultValue the config's `timeoutMs` */
  commandTimeoutMs?: number;
}

/** The URL used when neither REDIS_URL nor a private Redis of `qscale start` is there. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Errors after which a connection must find the primary again (a Sentinel or manual failover). */
function reconnectOnError(error: Error): 2 | false {
  // READONLY: we are talking to a former primary that is now a replica. Reconnect (Sentinel then
  // names the new primary) and resend the command, which the replica did not run.
  return error.message.startsWith('READONLY') ? 2 : false;
}

/** Builds per-node ioredis options (plain, TLS through rediss://, or Sentinel) from the config. */
export function redisOptionsFor(config: RedisConfig, options: CreateRedisOptions): RedisOptions {
  const url = new URL(config.url ?? DEFAULT_REDIS_URL);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  const request = options.role === 'request';
  const common: RedisOptions = {
    ...(url.username && { username: decodeURIComponent(url.username) }),
    ...(url.password && { password: decodeURIComponent(url.password) }),
    db: Number.isInteger(db) ? db : 0,
    ...(url.protocol === 'rediss:' && { tls: { servername: url.hostname } }),
    ...(options.connectionName && { connectionName: options.connectionName }),
    lazyConnect: options.lazyConnect ?? false,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    // Reconnect forever, backing off up to 2 s: Redis restarts must heal on their own.
    retryStrategy: options.noReconnect ? () => null : (times) => Math.min(times * 100, 2000),
    reconnectOnError,
    enableOfflineQueue: true,
    maxRetriesPerRequest: request ? 1 : null,
    ...(request && { commandTimeout: options.commandTimeoutMs ?? config.timeoutMs }),
  };
  if (config.sentinels && config.sentinels.length > 0) {
    return {
      ...common,
      sentinels: config.sentinels,
      name: config.sentinelName,
      ...(config.sentinelPassword && { sentinelPassword: config.sentinelPassword }),
      // Sentinels are asked again at every reconnect; they too get a deadline.
      sentinelRetryStrategy: options.noReconnect
        ? () => null
        : (times) => Math.min(times * 100, 2000),
      sentinelCommandTimeout: config.timeoutMs,
      // Follow +switch-master at once instead of waiting for the old primary to fail.
      failoverDetector: true,
    };
  }
  return {
    ...common,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
  };
}

/** ioredis Cluster options: per-node options from {@link redisOptionsFor}, plus slot handling. */
export function clusterOptionsFor(
  config: RedisConfig,
  options: CreateRedisOptions,
): ClusterOptions {
  const node = redisOptionsFor({ ...config, sentinels: [] }, options);
  const {
    host: _host,
    port: _port,
    db: _db,
    lazyConnect,
    retryStrategy: _retry,
    ...redisOptions
  } = node;
  return {
    redisOptions,
    lazyConnect,
    enableOfflineQueue: true,
    // MOVED/ASK during a resharding are followed (up to 16 redirections) and never surfaced.
    maxRedirections: 16,
    retryDelayOnMoved: 0,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: Math.max(1000, config.timeoutMs),
    clusterRetryStrategy: options.noReconnect ? () => null : (times) => Math.min(times * 100, 2000),
    // TLS certificates name hosts, not the IPs CLUSTER SLOTS returns.
    ...(redisOptions.tls && { dnsLookup: (address, callback) => callback(null, address) }),
  };
}

/** Creates a client for a role: a Cluster when REDIS_CLUSTER_NODES is set. The caller quits it. */
export function createRedis(config: RedisConfig, options: CreateRedisOptions): RedisClient {
  if (config.clusterNodes && config.clusterNodes.length > 0) {
    return new Cluster(config.clusterNodes, clusterOptionsFor(config, options));
  }
  return new Redis(redisOptionsFor(config, options));
}

/** Whether a client is a Redis Cluster client. */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true;
}

/**
 * A new connection like `client` (same nodes, credentials and role), for blocking reads that must
 * not hold up the shared connection. A blocking read has no command deadline (it would cut every
 * `BLOCK n` short); instead it fails when Redis has not answered `n` ms plus a grace period after it
 * was due (ioredis `blockingTimeout`), so a frozen Redis cannot hold it forever.
 */
export function duplicateRedis(client: RedisClient, connectionName: string): RedisClient {
  const blocking = (options: RedisOptions): RedisOptions => ({
    ...options,
    connectionName,
    commandTimeout: undefined,
    blockingTimeout: Math.max(1000, options.commandTimeout ?? 0),
    blockingTimeoutGrace: Math.max(100, options.commandTimeout ?? 0),
  });
  if (isCluster(client)) {
    return client.duplicate(undefined, {
      redisOptions: blocking(client.options.redisOptions ?? {}),
    });
  }
  return client.duplicate(blocking(client.options));
}

/** The Redis Cluster hash slot of a key (honours `{hash tags}`). */
export function slotOf(key: string): number {
  return calculateSlot(key);
}

/**
 * The connection that serves `key`: the client itself on a single node; on a Cluster, the master
 * node's connection that owns the key's slot (undefined while the slot map is unknown). Commands
 * such as `WAIT` must run on the connection that made the writes, which is that one.
 */
export function connectionFor(client: RedisClient, key: string): Redis | undefined {
  if (!isCluster(client)) return client;
  const owner = client.slots[slotOf(key)]?.[0];
  if (!owner) return undefined;
  return client
    .nodes('master')
    .find((node) => `${node.options.host}:${node.options.port}` === owner);
}

/** A printable form of the configured Redis without its password. */
export function describeRedis(config: RedisConfig): string {
  if (config.clusterNodes && config.clusterNodes.length > 0) {
    const nodes = config.clusterNodes.map((node) => `${node.host}:${node.port}`).join(',');
    return `cluster://${nodes}`;
  }
  if (config.sentinels && config.sentinels.length > 0) {
    const nodes = config.sentinels.map((node) => `${node.host}:${node.port}`).join(',');
    return `sentinel://${nodes}/${config.sentinelName}`;
  }
  const url = new URL(config.url ?? DEFAULT_REDIS_URL);
  if (url.password) url.password = '***';
  return url.toString();
}
