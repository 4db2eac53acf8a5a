import { connectionFor, type RedisClient } from '../redis/redis-connection.js';

export interface ReplicaAckerOptions {
  /** Replicas that must confirm (REDIS_MIN_REPLICAS_ACK). */
  replicas: number;
  /** How long one `WAIT` waits for them, in ms (REDIS_ACK_TIMEOUT_MS). */
  timeoutMs: number;
}

interface Waiter {
  keys: string[];
  resolve(confirmed: number): void;
  reject(error: unknown): void;
}

/**
 * Confirms that writes reached `replicas` replicas, for uploads with REDIS_MIN_REPLICAS_ACK.
 *
 * `WAIT` blocks the connection it runs on, so it gets a connection of its own (the API's shared
 * one stays free for other requests), and uploads that ask at the same time share one round
 * (group commit): `EXISTS <the upload's keys>` for each, `INCR <probe>`, `WAIT n timeout`, in one
 * pipeline. `WAIT` waits for the replication offset of this connection's last write, the `INCR`,
 * which comes after every write the uploads made (they finished before they asked). The `EXISTS`
 * proves this connection talks to the server that holds those writes: after a failover the two
 * connections may briefly reach different primaries, and a `WAIT` on the other one would confirm
 * nothing about them. An upload whose keys are missing there counts as confirmed by 0 replicas.
 */
export class ReplicaAcker {
  private waiting: Waiter[] = [];
  private running?: Promise<void>;

  /** @param redis a connection of the acker's own, which {@link close} quits */
  constructor(
    private readonly redis: RedisClient,
    /** A key in the queue's hash slot (on a Cluster, `WAIT` must run on that slot's master). */
    private readonly probeKey: string,
    private readonly opts: ReplicaAckerOptions,
  ) {}

  /**
   * How many replicas confirmed the writes of `keys` (all in the probe key's slot); 0 when this
   * connection's server does not hold them. Call it after those writes have been answered.
   */
  confirm(keys: string[]): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ keys, resolve, reject });
      this.running ??= this.drain().finally(() => {
        this.running = undefined;
      });
    });
  }

  /**
   * How many replicas the server holding the probe key's slot has connected (`INFO replication`),
   * or undefined when that server is unknown. With none, nothing written there can be lost to a
   * failover onto a replica that saw it differently: a rollback is then as durable as it gets.
   */
  async connectedReplicas(): Promise<number | undefined> {
    const node = connectionFor(this.redis, this.probeKey);
    if (!node) return undefined;
    const match = /^connected_slaves:(\d+)/m.exec(await node.info('replication'));
    return match ? Number(match[1]) : undefined;
  }

  /** Quits the acker's connection. */
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) await this.round(this.waiting.splice(0));
  }

  private async round(batch: Waiter[]): Promise<void> {
    const node = connectionFor(this.redis, this.probeKey);
    if (!node) {
      for (const waiter of batch) waiter.resolve(0);
      return;
    }
    try {
      const pipeline = node.pipeline();
      for (const waiter of batch) pipeline.exists(...waiter.keys);
      pipeline.incr(this.probeKey).wait(this.opts.replicas, this.opts.timeoutMs);
      const results = (await pipeline.exec()) ?? [];
      const [waitError, confirmed] = results[results.length - 1] ?? [new Error('no reply')];
      if (waitError) throw waitError;
      batch.forEach((waiter, i) => {
        const [error, found] = results[i] ?? [new Error('no reply')];
        waiter.resolve(!error && found === waiter.keys.length ? Number(confirmed) : 0);
      });
    } catch (error) {
      for (const waiter of batch) waiter.reject(error);
    }
  }
}
