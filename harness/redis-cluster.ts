import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import calculateSlot from 'cluster-key-slot';
import getPort from 'get-port';
import { Cluster, Redis } from 'ioredis';
import { killChild } from './kill-child.js';
import { whenRedisAnswers } from './redis-server.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One redis-server of a test cluster. */
export interface ClusterNodeInfo {
  port: number;
  /** The node id (`CLUSTER MYID`). */
  id: string;
}

/** A master and the slot ranges it serves now (`CLUSTER SLOTS`). */
export interface ClusterMaster extends ClusterNodeInfo {
  ranges: [number, number][];
}

export interface TestRedisClusterOptions {
  /** Masters (the slots are split evenly between them). @defaultValue 3 */
  masters?: number;
  /** Replicas of each master. @defaultValue 0 */
  replicasPerMaster?: number;
}

/** A plain client that prints nothing when the node goes away (tests stop the cluster). */
function nodeClient(port: number): Redis {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return client;
}

/** Two distinct free loopback ports: the node's and its cluster bus port. */
async function freePorts(taken: Set<number>): Promise<[number, number]> {
  const pick = async () => {
    for (;;) {
      const port = await getPort({ host: '127.0.0.1' });
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  return [await pick(), await pick()];
}

/**
 * A real Redis Cluster of the test's own on free loopback ports, nothing persisted: `masters`
 * masters (3 by default) with `replicasPerMaster` replicas each, made by `redis-cli --cluster
 * create`, ready when every node says `cluster_state:ok` and sees the whole topology. Never the
 * shared redis-server on 6379. `stop()` kills every node and removes the nodes' files.
 */
export class TestRedisCluster {
  readonly nodes: ClusterNodeInfo[] = [];
  private readonly children: ChildProcess[] = [];
  private dir = '';
  private readonly masters: number;
  private readonly replicas: number;

  constructor(options: TestRedisClusterOptions = {}) {
    this.masters = options.masters ?? 3;
    this.replicas = options.replicasPerMaster ?? 0;
    if (!Number.isInteger(this.masters) || this.masters < 3) {
      throw new RangeError(
        `TestRedisCluster masters must be a whole number ≥ 3, got ${this.masters}`,
      );
    }
    if (!Number.isInteger(this.replicas) || this.replicas < 0) {
      throw new RangeError(
        `TestRedisCluster replicasPerMaster must be a whole number ≥ 0, got ${this.replicas}`,
      );
    }
  }

  /** REDIS_CLUSTER_NODES: every node as `127.0.0.1:port`, comma-separated. */
  get seeds(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  /** The startup nodes for an ioredis `Cluster`. */
  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  }

  async start(): Promise<this> {
    this.dir = await mkdtemp(join(tmpdir(), 'qscale-cluster-'));
    const total = this.masters * (this.replicas + 1);
    const taken = new Set<number>();
    const ports: number[] = [];
    for (let i = 0; i < total; i++) {
      const [port, busPort] = await freePorts(taken);
      this.spawnNode(port, busPort);
      ports.push(port);
    }
    for (const port of ports) this.nodes.push({ port, id: await this.whenUp(port) });
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      String(this.replicas),
      '--cluster-yes',
    ]);
    await this.waitUntilConsistent();
    return this;
  }

  private spawnNode(port: number, busPort: number): void {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--cluster-port',
        String(busPort),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(this.dir, `nodes-${port}.conf`),
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        // Replicas sync at once instead of waiting 5 s for more replicas to share one transfer.
        '--repl-diskless-sync-delay',
        '0',
        // Nodes gossip more often, so all of them learn the replicas' roles in ~3 s instead of ~7.
        '--cluster-node-timeout',
        '5000',
        '--daemonize',
        'no',
      ],
      { stdio: 'ignore' },
    );
    this.children.push(child);
  }

  /** Waits for a node to answer and returns its id. */
  private whenUp(port: number): Promise<string> {
    return whenRedisAnswers(
      port,
      async (probe) => String(await probe.cluster('MYID')),
      () => {
        const exited = this.children.find((child) => child.exitCode !== null);
        if (exited) throw new Error(`a redis-server of the cluster exited with ${exited.exitCode}`);
      },
    );
  }

  /**
   * Ready: every node says `cluster_state:ok` and lists every master with slots and every replica
   * (right after `--cluster create` some nodes still see the replicas as empty masters).
   */
  private async waitUntilConsistent(timeoutMs = 20_000): Promise<void> {
    const clients = this.nodes.map((node) => nodeClient(node.port));
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const views = await Promise.all(
          clients.map(async (client) => ({
            info: String(await client.cluster('INFO')),
            nodes: String(await client.cluster('NODES')),
          })),
        );
        const ready = views.every(({ info, nodes }) => {
          // <id> <addr> <flags> <master> <ping> <pong> <epoch> <link> [slots…]
          const fields = nodes
            .split('\n')
            .filter(Boolean)
            .map((line) => line.split(' '));
          const mastersWithSlots = fields.filter((f) => f[2]!.includes('master') && f.length > 8);
          const replicas = fields.filter((f) => f[2]!.includes('slave'));
          return (
            info.includes('cluster_state:ok') &&
            mastersWithSlots.length === this.masters &&
            replicas.length === this.masters * this.replicas
          );
        });
        if (ready) return;
        if (Date.now() > deadline) {
          throw new Error(`the cluster did not become consistent within ${timeoutMs} ms`);
        }
        await sleep(50);
      }
    } finally {
      for (const client of clients) client.disconnect();
    }
  }

  /** The masters and the slots each serves now, from `CLUSTER SLOTS` of one node. */
  async slotMap(viaPort = this.nodes[0]!.port): Promise<ClusterMaster[]> {
    const client = nodeClient(viaPort);
    try {
      const slots = await client.cluster('SLOTS');
      const byId = new Map<string, ClusterMaster>();
      for (const [from, to, owner] of slots) {
        // The range's master, [host, port, id, …], comes first; its replicas follow.
        const [, port, id] = owner!;
        const master = byId.get(id) ?? { port, id, ranges: [] };
        master.ranges.push([from, to]);
        byId.set(id, master);
      }
      return [...byId.values()].sort((a, b) => a.ranges[0]![0] - b.ranges[0]![0]);
    } finally {
      client.disconnect();
    }
  }

  /** The master that serves `slot` now. */
  async masterOf(slot: number): Promise<ClusterMaster> {
    const master = (await this.slotMap()).find((m) =>
      m.ranges.some(([from, to]) => slot >= from && slot <= to),
    );
    if (!master) throw new Error(`no master serves slot ${slot}`);
    return master;
  }

  /** The master that serves `key` now (honours `{hash tags}`). */
  masterOfKey(key: string): Promise<ClusterMaster> {
    return this.masterOf(calculateSlot(key));
  }

  /**
   * One hash tag per master, in slot order: `{<base>}` for the master that serves it, and
   * `{<base>-<n>}` (the lowest such n) for the others — prefixes whose queues land on every master.
   */
  async hashTagsOnEveryMaster(base = 'bull'): Promise<{ tag: string; master: ClusterMaster }[]> {
    const masters = await this.slotMap();
    const serves = (master: ClusterMaster, tag: string) => {
      const slot = calculateSlot(tag);
      return master.ranges.some(([from, to]) => slot >= from && slot <= to);
    };
    return masters.map((master) => {
      for (let n = 0; ; n++) {
        const tag = n === 0 ? `{${base}}` : `{${base}-${n}}`;
        if (serves(master, tag)) return { tag, master };
      }
    });
  }

  /** The first of `{<base>}`, `{<base>-1}`, `{<base>-2}`, … that the master on `port` serves. */
  async hashTagOn(port: number, base: string): Promise<string> {
    const master = (await this.slotMap()).find((m) => m.port === port);
    if (!master) throw new Error(`no master on port ${port}`);
    for (let n = 0; ; n++) {
      const tag = n === 0 ? `{${base}}` : `{${base}-${n}}`;
      const slot = calculateSlot(tag);
      if (master.ranges.some(([from, to]) => slot >= from && slot <= to)) return tag;
    }
  }

  /** A plain client of one node (for INFO, MONITOR, CLUSTER …); the caller disconnects it. */
  client(port: number): Redis {
    return nodeClient(port);
  }

  /** An ioredis Cluster client for assertions and BullMQ queues; the caller disconnects it. */
  clusterClient(options: { maxRetriesPerRequest?: number | null } = {}): Cluster {
    const cluster = new Cluster(this.startupNodes, {
      // `null` (BullMQ workers' blocking connections) must stay null, not become the default.
      redisOptions: {
        maxRetriesPerRequest:
          options.maxRetriesPerRequest === undefined ? 1 : options.maxRetriesPerRequest,
      },
    });
    cluster.on('error', () => undefined);
    return cluster;
  }

  /**
   * Moves `slot` to the master on `toPort` as `redis-cli --cluster reshard` does: the target
   * IMPORTING, the source MIGRATING, the keys MIGRATEd `batch` at a time (`between()` runs after
   * each batch, while the slot is half moved), then every master told the new owner.
   */
  async moveSlot(
    slot: number,
    toPort: number,
    options: { batch?: number; between?: () => Promise<void> } = {},
  ): Promise<void> {
    const from = await this.masterOf(slot);
    const to = this.nodes.find((node) => node.port === toPort);
    if (!to) throw new Error(`no node on port ${toPort}`);
    if (from.port === toPort) return;
    const source = nodeClient(from.port);
    const target = nodeClient(toPort);
    try {
      await target.cluster('SETSLOT', slot, 'IMPORTING', from.id);
      await source.cluster('SETSLOT', slot, 'MIGRATING', to.id);
      for (;;) {
        const keys = (await source.cluster('GETKEYSINSLOT', slot, options.batch ?? 10)) as string[];
        if (keys.length === 0) break;
        await source.migrate('127.0.0.1', toPort, '', 0, 5000, 'KEYS', ...keys);
        await options.between?.();
      }
      // The target first, then the source, then everyone else (as redis-cli does).
      await target.cluster('SETSLOT', slot, 'NODE', to.id);
      await source.cluster('SETSLOT', slot, 'NODE', to.id);
      const masters = await this.slotMap(toPort);
      for (const master of masters) {
        if (master.port === from.port || master.port === toPort) continue;
        const other = nodeClient(master.port);
        await other.cluster('SETSLOT', slot, 'NODE', to.id).finally(() => other.disconnect());
      }
    } finally {
      source.disconnect();
      target.disconnect();
    }
  }

  /** Kills every node and removes their files. */
  async stop(): Promise<void> {
    await Promise.all(this.children.splice(0).map(killChild));
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** Starts a cluster; on failure the nodes already started are stopped. */
export async function startRedisCluster(
  options: TestRedisClusterOptions = {},
): Promise<TestRedisCluster> {
  const cluster = new TestRedisCluster(options);
  try {
    return await cluster.start();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
