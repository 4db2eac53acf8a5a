import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { killChild } from './kill-child.js';
import { whenRedisAnswers, withRedisClient } from './redis-server.js';

export interface SentinelTopologyOptions {
  /** The Sentinel master group. @defaultValue 'mymaster' */
  masterName?: string;
  /** Replicas of the primary (`--replicaof`). @defaultValue 1 */
  replicas?: number;
  /** Sentinels; the quorum is a majority of them. @defaultValue 3 */
  sentinels?: number;
  /** Sentinel `down-after-milliseconds`: how long the primary may not answer. @defaultValue 1000 */
  downAfterMs?: number;
  /** Sentinel `failover-timeout`. @defaultValue 3000 */
  failoverTimeoutMs?: number;
}

/** Where a Redis node listens. */
export interface NodeAddress {
  host: string;
  port: number;
}

const HOST = '127.0.0.1';

/** Every process of every topology of this test process: killed even if a test forgets `stop()`. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** `[k1, v1, k2, v2, …]` (Sentinel's replies) as an object. */
function pairs(reply: unknown): Record<string, string> {
  const list = reply as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]!] = list[i + 1]!;
  return out;
}

/** One `redis-server` process (a data node or a sentinel) and the port it keeps across restarts. */
export class ServerProcess {
  child?: ChildProcess;

  constructor(
    readonly port: number,
    private readonly args: () => string[],
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && !this.child.signalCode;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const child = spawn('redis-server', this.args(), { stdio: 'ignore' });
    this.child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    // Until it answers PING (10 s); an exit ends the wait at once, with that error.
    await whenRedisAnswers(
      this.port,
      async (c) => {
        if ((await c.ping()) !== 'PONG') throw new Error('not ready');
      },
      () => {
        if (child.exitCode !== null) {
          throw new Error(`redis-server on port ${this.port} exited with ${child.exitCode}`);
        }
      },
    );
  }

  /** SIGKILL (default) or SIGSTOP/SIGCONT; SIGKILL waits for the process to go. */
  async signal(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode) return;
    if (signal === 'SIGKILL') await killChild(child);
    else child.kill(signal);
  }
}

/**
 * A real Redis Sentinel topology of the test's own, on free loopback ports: one primary, its
 * replicas (`--replicaof`) and three sentinels (`redis-server <conf> --sentinel`, each with its own
 * writable config file), everything in a temporary directory that `stop()` removes. Nothing is
 * persisted. Never the shared Redis on 6379.
 *
 * Sentinel settings are short so that a failover fits in a test: a primary that does not answer
 * for `downAfterMs` is down, and the sentinels elect a new one a second or two later.
 */
export class TestSentinelTopology {
  readonly masterName: string;
  readonly options: Required<SentinelTopologyOptions>;
  /** Data nodes; `nodes[0]` is the first primary. */
  readonly nodes: ServerProcess[] = [];
  readonly sentinels: ServerProcess[] = [];
  private dir = '';

  constructor(options: SentinelTopologyOptions = {}) {
    this.options = {
      masterName: 'mymaster',
      replicas: 1,
      sentinels: 3,
      downAfterMs: 1000,
      failoverTimeoutMs: 3000,
      ...options,
    };
    const { replicas, sentinels, downAfterMs, failoverTimeoutMs } = this.options;
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new RangeError(`replicas must be a whole number ≥ 0, got ${replicas}`);
    }
    if (!Number.isInteger(sentinels) || sentinels < 1) {
      throw new RangeError(`sentinels must be a whole number ≥ 1, got ${sentinels}`);
    }
    if (!(downAfterMs >= 100) || !(failoverTimeoutMs >= 1000)) {
      throw new RangeError(
        `downAfterMs must be ≥ 100 and failoverTimeoutMs ≥ 1000, got ${downAfterMs} and ${failoverTimeoutMs}`,
      );
    }
    this.masterName = this.options.masterName;
  }

  /** `REDIS_SENTINELS` for this topology: `127.0.0.1:p1,127.0.0.1:p2,…`. */
  get sentinelsEnv(): string {
    return this.sentinels.map((s) => `${HOST}:${s.port}`).join(',');
  }

  /** Starts the primary, the replicas and the sentinels, and waits until the sentinels agree. */
  async start(): Promise<this> {
    this.dir = await mkdtemp(join(tmpdir(), 'qscale-sentinel-'));
    try {
      const primaryPort = await getPort({ host: HOST });
      this.nodes.push(this.dataNode(primaryPort));
      for (let i = 0; i < this.options.replicas; i++) {
        this.nodes.push(this.dataNode(await getPort({ host: HOST })));
      }
      for (const node of this.nodes) await mkdir(this.nodeDir(node.port));
      await this.nodes[0]!.start();
      for (const replica of this.nodes.slice(1)) {
        await this.startReplica(replica, { host: HOST, port: primaryPort });
      }
      await this.waitForReplicas(primaryPort, this.options.replicas);

      // Each sentinel is told its peers and the replicas up front (what it would otherwise learn
      // from hello messages every 2 s and INFO every 10 s), so the topology is ready in a second.
      const peers: { port: number; id: string }[] = [];
      for (let i = 0; i < this.options.sentinels; i++) {
        peers.push({ port: await getPort({ host: HOST }), id: randomBytes(20).toString('hex') });
      }
      const name = this.masterName;
      for (const { port, id } of peers) {
        const conf = join(this.dir, `sentinel-${port}.conf`);
        // Sentinel rewrites its config file (known sentinels, replicas, epochs): one each.
        await writeFile(
          conf,
          [
            `port ${port}`,
            `bind ${HOST}`,
            'daemonize no',
            `dir ${this.dir}`,
            `sentinel myid ${id}`,
            `sentinel monitor ${name} ${HOST} ${primaryPort} ${this.quorum}`,
            `sentinel down-after-milliseconds ${name} ${this.options.downAfterMs}`,
            `sentinel failover-timeout ${name} ${this.options.failoverTimeoutMs}`,
            `sentinel parallel-syncs ${name} 1`,
            ...this.nodes.slice(1).map((n) => `sentinel known-replica ${name} ${HOST} ${n.port}`),
            ...peers
              .filter((peer) => peer.port !== port)
              .map((peer) => `sentinel known-sentinel ${name} ${HOST} ${peer.port} ${peer.id}`),
            '',
          ].join('\n'),
        );
        this.sentinels.push(new ServerProcess(port, () => [conf, '--sentinel']));
      }
      await Promise.all(this.sentinels.map((sentinel) => sentinel.start()));
      await this.waitUntilStable({ primary: primaryPort, replicas: this.options.replicas });
      return this;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** A majority of the sentinels. */
  get quorum(): number {
    return Math.floor(this.options.sentinels / 2) + 1;
  }

  private nodeDir(port: number): string {
    return join(this.dir, `node-${port}`);
  }

  private dataNode(port: number, replicaOf?: () => NodeAddress | undefined): ServerProcess {
    return new ServerProcess(port, () => {
      const primary = replicaOf?.();
      return [
        '--port',
        String(port),
        '--bind',
        HOST,
        '--dir',
        this.nodeDir(port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        // A replica that (re)joins gets its full sync at once, not after the default 5 s.
        '--repl-diskless-sync-delay',
        '0',
        ...(primary ? ['--replicaof', primary.host, String(primary.port)] : []),
      ];
    });
  }

  private async startReplica(node: ServerProcess, primary: NodeAddress): Promise<void> {
    const index = this.nodes.indexOf(node);
    const replica = this.dataNode(node.port, () => primary);
    this.nodes[index] = replica;
    await replica.start();
  }

  /** Waits until `port` (a primary) has `count` replicas whose link is up and in sync. */
  async waitForReplicas(port: number, count: number, timeoutMs = 15_000): Promise<void> {
    await this.waitFor(`${count} replica(s) of ${port} in sync`, timeoutMs, async () => {
      const info = await withRedisClient(port, (c) => c.info('replication'));
      const online = info.match(/^slave\d+:.*state=online.*$/gm) ?? [];
      return online.length >= count;
    });
  }

  /** What each running sentinel says of the master group. */
  async sentinelViews(): Promise<
    { port: number; primary?: number; flags?: string; others?: number; replicas: string[] }[]
  > {
    return Promise.all(
      this.sentinels
        .filter((sentinel) => sentinel.running)
        .map(async (sentinel) => {
          try {
            return await withRedisClient(sentinel.port, async (c) => {
              const master = pairs(await c.call('SENTINEL', 'MASTER', this.masterName));
              const replicas = (
                (await c.call('SENTINEL', 'REPLICAS', this.masterName)) as unknown[]
              ).map(pairs);
              return {
                port: sentinel.port,
                primary: Number(master.port),
                flags: master.flags,
                others: Number(master['num-other-sentinels']),
                // Replicas the sentinel considers healthy: flags exactly "slave", link up.
                replicas: replicas
                  .filter((r) => r.flags === 'slave' && r['master-link-status'] === 'ok')
                  .map((r) => r.port!),
              };
            });
          } catch {
            return { port: sentinel.port, replicas: [] };
          }
        }),
    );
  }

  /**
   * Waits until every running sentinel names the same healthy primary (`primary` if given), knows
   * the other sentinels and sees at least `replicas` healthy replicas. Resolves with the primary.
   */
  async waitUntilStable(
    expect: { primary?: number; replicas?: number } = {},
    timeoutMs = 20_000,
  ): Promise<NodeAddress> {
    const replicas = expect.replicas ?? this.nodes.filter((n) => n.running).length - 1;
    let agreed: number | undefined;
    await this.waitFor('the sentinels to agree on the primary', timeoutMs, async () => {
      const views = await this.sentinelViews();
      const primaries = new Set(views.map((v) => v.primary));
      agreed = views[0]?.primary;
      return (
        views.length === this.sentinels.filter((s) => s.running).length &&
        primaries.size === 1 &&
        agreed !== undefined &&
        (expect.primary === undefined || agreed === expect.primary) &&
        views.every(
          (v) =>
            v.flags === 'master' &&
            v.others === this.options.sentinels - 1 &&
            v.replicas.length >= replicas,
        )
      );
    });
    return { host: HOST, port: agreed! };
  }

  /** The primary as a quorum of sentinels name it (`SENTINEL GET-MASTER-ADDR-BY-NAME`). */
  async currentPrimary(): Promise<NodeAddress> {
    const answers = await Promise.all(
      this.sentinels
        .filter((s) => s.running)
        .map((s) =>
          withRedisClient(s.port, (c) =>
            c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName),
          ).catch(() => undefined),
        ),
    );
    const votes = new Map<number, number>();
    for (const answer of answers) {
      const port = Number((answer as string[] | undefined)?.[1]);
      if (port) votes.set(port, (votes.get(port) ?? 0) + 1);
    }
    for (const [port, count] of votes) if (count >= this.quorum) return { host: HOST, port };
    throw new Error(`no quorum of sentinels names a primary: ${JSON.stringify([...votes])}`);
  }

  /**
   * `SENTINEL FAILOVER`: promotes a replica without waiting for the primary to fail; resolves once
   * every sentinel names the new primary.
   */
  async failover(timeoutMs = 15_000): Promise<NodeAddress> {
    const before = await this.currentPrimary();
    const sentinel = this.sentinels.find((s) => s.running)!;
    await withRedisClient(sentinel.port, (c) => c.call('SENTINEL', 'FAILOVER', this.masterName));
    return this.waitForNewPrimary(before.port, timeoutMs);
  }

  /** SIGKILLs the current primary (no shutdown, no goodbye); resolves with its address. */
  async killPrimary(): Promise<NodeAddress> {
    const primary = await this.currentPrimary();
    await this.node(primary.port).signal('SIGKILL');
    return primary;
  }

  /** Resolves once a quorum of sentinels names a primary other than `oldPort`. */
  async waitForNewPrimary(oldPort: number, timeoutMs = 20_000): Promise<NodeAddress> {
    let found: NodeAddress | undefined;
    await this.waitFor(`a primary other than ${oldPort}`, timeoutMs, async () => {
      found = await this.currentPrimary().catch(() => undefined);
      return found !== undefined && found.port !== oldPort;
    });
    return found!;
  }

  /**
   * Restarts a killed node as a replica of the current primary, as a supervisor (a StatefulSet)
   * would bring a failed primary back; resolves once it is in sync.
   */
  async restartAsReplica(port: number): Promise<void> {
    const primary = await this.currentPrimary();
    const node = this.node(port);
    if (node.running) throw new Error(`node ${port} is running`);
    await this.startReplica(node, primary);
    await this.waitForReplicas(primary.port, 1);
  }

  /** The data node on `port`. */
  node(port: number): ServerProcess {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no data node on port ${port}`);
    return node;
  }

  /** A plain client of one data node, for assertions; the caller disconnects it. */
  client(port: number): Redis {
    const client = new Redis(port, HOST, { maxRetriesPerRequest: 1 });
    // Tests kill nodes: connection errors are expected and must not be printed as unhandled.
    client.on('error', () => undefined);
    return client;
  }

  /** Kills every process (SIGKILL) and removes the temporary directory. Idempotent. */
  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.nodes].map((p) => p.signal('SIGKILL')));
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = '';
  }

  /** Checks every 100 ms (not vi.waitFor: the benchmarks use this topology outside vitest). */
  private async waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      // A rejected check counts as not yet; the sentinels' views are read once, on a timeout.
      if (await check().catch(() => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `timed out after ${timeoutMs} ms waiting for ${what}; sentinels: ${JSON.stringify(
        await this.sentinelViews(),
      )}`,
    );
  }
}

/** Starts a topology: one primary, `replicas` replicas, three sentinels. */
export async function startSentinelTopology(
  options: SentinelTopologyOptions = {},
): Promise<TestSentinelTopology> {
  return new TestSentinelTopology(options).start();
}
