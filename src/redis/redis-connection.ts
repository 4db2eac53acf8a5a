import calculateSlot from 'cluster-key-slot';
import {
  Cluster,
  Command,
  Redis,
  SentinelConnector,
  type ClusterOptions,
  type RedisOptions,
  type SentinelConnectionOptions,
} from 'ioredis';
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
function reconnectOnError(error: Error): 1 | 2 | false {
  // READONLY: we are talking to a former primary that is now a replica. Reconnect (Sentinel then
  // names the new primary) and resend the command, which the replica did not run.
  if (error.message.startsWith('READONLY')) return 2;
  // UNBLOCKED: a blocked command (WAIT, BZPOPMIN) on a primary that has just become a replica.
  // Reconnect, but do not resend: a WAIT sent again on a new connection has no writes to wait for
  // and would confirm at once what it never saw replicated.
  if (error.message.startsWith('UNBLOCKED')) return 1;
  return false;
}

/**
 * ioredis' Sentinel connector, except that its failover detector (one subscriber per sentinel,
 * listening for +switch-master) closes with the connection it watches. ioredis closes it only on
 * `disconnect()`, not on `quit()`: every Sentinel client closed with `quit()` (our `close()`s,
 * BullMQ's) left those subscribers open and reconnecting for ever, which kept the process alive and
 * printed "[ioredis] Unhandled error event" once the sentinels went away. A reconnection makes a
 * new detector, as before.
 */
class ClosingSentinelConnector extends SentinelConnector {
  // ioredis constructs a `Connector` option with the client's options, typed `unknown`.
  constructor(options: unknown) {
    super(options as SentinelConnectionOptions);
  }

  override async connect(...args: Parameters<SentinelConnector['connect']>) {
    const stream = await super.connect(...args);
    stream.once('close', () => {
      // `failoverDetector` is private in ioredis' types. Cleared once closed, so that the failed
      // attempts of a reconnection do not close it again and again.
      const self = this as unknown as { failoverDetector?: { cleanup(): void } | null };
      self.failoverDetector?.cleanup();
      self.failoverDetector = null;
    });
    return stream;
  }
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
    retryStrategy: backoffOf(options),
    reconnectOnError,
    enableOfflineQueue: true,
    maxRetriesPerRequest: request ? 1 : null,
    ...(request && {
      commandTimeout: options.commandTimeoutMs ?? config.timeoutMs,
      // A closed connection to a frozen Redis waits for its FIN this long (ioredis: 2 s), and
      // keeps a one-shot command (`status`, `doctor`) from exiting: the request deadline here too.
      disconnectTimeout: options.commandTimeoutMs ?? config.timeoutMs,
    }),
  };
  if (config.sentinels && config.sentinels.length > 0) {
    return {
      ...common,
      sentinels: config.sentinels,
      name: config.sentinelName,
      ...(config.sentinelPassword && { sentinelPassword: config.sentinelPassword }),
      // Sentinels are asked again at every reconnect; they too get a deadline.
      sentinelRetryStrategy: backoffOf(options),
      sentinelCommandTimeout: config.timeoutMs,
      // Follow +switch-master at once instead of waiting for the old primary to fail.
      failoverDetector: true,
      Connector: ClosingSentinelConnector,
    };
  }
  return {
    ...common,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
  };
}

/** Reconnect forever, backing off up to 2 s (Redis restarts must heal on their own); or never. */
function backoffOf(options: CreateRedisOptions): (times: number) => number | null {
  return options.noReconnect ? () => null : (times) => Math.min(times * 100, 2000);
}

/** ioredis Cluster options: per-node options from {@link redisOptionsFor}, plus slot handling. */
function clusterOptionsFor(config: RedisConfig, options: CreateRedisOptions): ClusterOptions {
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
    // MOVED/ASK during a resharding are followed (up to 16 redirections) and never surfaced; for
    // pipelines see resendRedirected below.
    maxRedirections: 16,
    retryDelayOnMoved: 0,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: Math.max(1000, config.timeoutMs),
    clusterRetryStrategy: backoffOf(options),
    // TLS certificates name hosts, not the IPs CLUSTER SLOTS returns.
    ...(redisOptions.tls && { dnsLookup: (address, callback) => callback(null, address) }),
  };
}

/**
 * Cluster replies that mean "this command did not run here": MOVED and ASK while a slot moves to
 * another master, TRYAGAIN while a multi-key command's keys are split between the two, CLUSTERDOWN
 * during a failover.
 */
const REDIRECTION = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/;

/** What ioredis keeps of a queued pipeline command (`Pipeline#_queue`, not public API). */
interface QueuedCommand {
  name: string;
  args: (string | Buffer | number)[];
  /** The ASKING that ioredis puts before a command it sends again after an ASK. */
  ignore?: boolean;
  /** Queued inside a MULTI of the pipeline: it runs with the transaction or not at all. */
  inTransaction?: boolean;
  replyEncoding?: BufferEncoding | null;
}

/**
 * Sends one command of a pipeline again, alone, where the cluster client follows MOVED and ASK
 * and retries TRYAGAIN itself. A script goes as EVAL, since the node now serving its keys may not
 * have it loaded.
 */
function resendAlone(cluster: Cluster, queued: QueuedCommand): Promise<unknown> {
  let { name, args } = queued;
  if (name === 'evalsha') {
    const scripts = Object.values(
      cluster.scriptsSet as Record<string, { sha: string; lua: string }>,
    );
    const script = scripts.find((s) => s.sha === args[0]);
    if (script) [name, args] = ['eval', [script.lua, ...args.slice(1)]];
  }
  const encoding = 'replyEncoding' in queued ? queued.replyEncoding : 'utf8';
  const command = new Command(name, args, { replyEncoding: encoding });
  cluster.sendCommand(command);
  return command.promise;
}

/**
 * ioredis follows a redirection in a pipeline only when every command of it got the same reply,
 * and not at all when a TRYAGAIN comes after an ASK. While a slot moves, a pipeline to its master
 * often has some commands redirected and others served (keys already moved and not yet, or queues
 * on that master that stay), and those errors would surface. A redirected command did not run, and
 * a pipeline is not atomic, so each one is sent again alone once the pipeline has answered.
 * Transactions (MULTI) are left as they are: they run whole or not at all, and ioredis retries
 * them whole.
 */
function resendRedirected(cluster: Cluster): Cluster {
  const createPipeline = cluster.pipeline.bind(cluster);
  cluster.pipeline = ((commands?: unknown[][]) => {
    const pipeline = createPipeline(commands as never);
    const exec = pipeline.exec.bind(pipeline);
    let called = false;
    pipeline.exec = ((callback?: never) => {
      // ioredis calls exec again itself when it retries the whole pipeline: that goes through.
      if (called || callback) return exec(callback);
      called = true;
      return exec().then(async (results) => {
        const redirected = results?.some(([error]) => error && REDIRECTION.test(error.message));
        const queue = (pipeline as unknown as { _queue?: QueuedCommand[] })._queue;
        if (!results || !redirected || !queue) return results;
        const sent = queue.filter((command) => !command.ignore);
        for (let i = 0; i < results.length; i++) {
          const [error] = results[i]!;
          const queued = sent[i];
          if (!error || !queued || queued.inTransaction || !REDIRECTION.test(error.message)) {
            continue;
          }
          results[i] = await resendAlone(cluster, queued).then(
            (value): [null, unknown] => [null, value],
            (failure: Error): [Error, null] => [failure, null],
          );
        }
        return results;
      });
    }) as typeof pipeline.exec;
    return pipeline;
  }) as typeof cluster.pipeline;
  return cluster;
}

/** Creates a client for a role: a Cluster when REDIS_CLUSTER_NODES is set. The caller quits it. */
export function createRedis(config: RedisConfig, options: CreateRedisOptions): RedisClient {
  if (config.clusterNodes && config.clusterNodes.length > 0) {
    return resendRedirected(new Cluster(config.clusterNodes, clusterOptionsFor(config, options)));
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
