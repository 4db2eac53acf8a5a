/**
 * What the cluster benchmark runs against, with no test helper involved: a redis-server and a
 * Redis Cluster of its own on free loopback ports (never the shared 6379, nothing persisted), and
 * `qscale` processes of the build in dist/ whose JSON log lines it can wait for.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import calculateSlot from 'cluster-key-slot';
import getPort from 'get-port';
import { Redis } from 'ioredis';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const BUILT_MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** Something that must be stopped, even when the benchmark fails or is interrupted. */
export interface Stoppable {
  stop(): Promise<void>;
}

/** Kills a child process and waits for it to go. */
async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** A plain client of one node that stays quiet when the node goes away. */
export function nodeClient(port: number): Redis {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return client;
}

async function whenUp(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    await sleep(30);
  }
  throw new Error(`redis-server on port ${port} did not start within 10 s`);
}

function redisServer(args: string[]): ChildProcess {
  return spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...args],
    { stdio: 'ignore' },
  );
}

/** One redis-server. */
export class BenchRedis implements Stoppable {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<BenchRedis> {
    const port = await getPort({ host: '127.0.0.1' });
    const child = redisServer(['--port', String(port)]);
    const redis = new BenchRedis(port, child);
    try {
      await whenUp(port, child);
    } catch (error) {
      await redis.stop();
      throw error;
    }
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  stop(): Promise<void> {
    return kill(this.child);
  }
}

/** A master of a cluster and the slot ranges it serves. */
export interface BenchMaster {
  port: number;
  ranges: [number, number][];
}

/** A Redis Cluster of `masters` masters without replicas, made by `redis-cli --cluster create`. */
export class BenchCluster implements Stoppable {
  readonly ports: number[] = [];
  private readonly children: ChildProcess[] = [];
  private dir = '';

  static async start(masters = 3): Promise<BenchCluster> {
    const cluster = new BenchCluster();
    try {
      await cluster.create(masters);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** REDIS_CLUSTER_NODES. */
  get seeds(): string {
    return this.ports.map((port) => `127.0.0.1:${port}`).join(',');
  }

  private async create(masters: number): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'qscale-bench-cluster-'));
    const taken = new Set<number>();
    const free = async () => {
      for (;;) {
        const port = await getPort({ host: '127.0.0.1' });
        if (!taken.has(port)) {
          taken.add(port);
          return port;
        }
      }
    };
    for (let i = 0; i < masters; i++) {
      const [port, busPort] = [await free(), await free()];
      const child = redisServer([
        '--port',
        String(port),
        '--cluster-port',
        String(busPort),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(this.dir, `nodes-${port}.conf`),
        '--dir',
        this.dir,
      ]);
      this.children.push(child);
      this.ports.push(port);
      await whenUp(port, child);
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...this.ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const clients = this.ports.map(nodeClient);
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const infos = await Promise.all(clients.map((c) => c.cluster('INFO')));
        if (infos.every((info) => String(info).includes('cluster_state:ok'))) break;
        if (Date.now() > deadline) throw new Error('the cluster did not become ok within 20 s');
        await sleep(50);
      }
    } finally {
      for (const client of clients) client.disconnect();
    }
  }

  /** The masters and their slot ranges (`CLUSTER SLOTS`). */
  async masters(): Promise<BenchMaster[]> {
    const client = nodeClient(this.ports[0]!);
    try {
      const byPort = new Map<number, BenchMaster>();
      for (const [from, to, owner] of await client.cluster('SLOTS')) {
        const port = owner![1];
        const master = byPort.get(port) ?? { port, ranges: [] };
        master.ranges.push([from, to]);
        byPort.set(port, master);
      }
      return [...byPort.values()].sort((a, b) => a.ranges[0]![0] - b.ranges[0]![0]);
    } finally {
      client.disconnect();
    }
  }

  /** The first of `{<base>}`, `{<base>-1}`, … served by `master`, other than those in `not`. */
  static hashTagOn(master: BenchMaster, base: string, not: string[] = []): string {
    for (let n = 0; ; n++) {
      const tag = n === 0 ? `{${base}}` : `{${base}-${n}}`;
      const slot = calculateSlot(tag);
      const served = master.ranges.some(([from, to]) => slot >= from && slot <= to);
      if (served && !not.includes(tag)) return tag;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.splice(0).map(kill));
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** One `qscale <command>` process of the build in dist/, with its JSON log lines. */
export class BenchProcess implements Stoppable {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  private stderr = '';

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [BUILT_MAIN, ...args], {
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pending = '';
    this.child.stdout!.on('data', (data: Buffer) => {
      const parts = (pending + data.toString()).split('\n');
      pending = parts.pop()!;
      for (const part of parts) {
        try {
          this.lines.push(JSON.parse(part) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
    });
    this.child.stderr!.on('data', (data: Buffer) => (this.stderr += data.toString()));
  }

  /** The first log line matching `predicate`; rejects if the process exits or after 30 s. */
  async waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const line = this.lines.find(predicate);
      if (line) return line;
      if (this.child.exitCode !== null) {
        throw new Error(`qscale exited with ${this.child.exitCode}: ${this.stderr.slice(-2000)}`);
      }
      await sleep(25);
    }
    throw new Error('no matching log line within 30 s');
  }

  stop(): Promise<void> {
    return kill(this.child);
  }
}

/**
 * Runs `body`, then stops everything it registered with `track`, whether `body` resolves, throws,
 * or the process is interrupted with SIGINT/SIGTERM.
 */
export async function withCleanup<T>(
  body: (track: <S extends Stoppable>(stoppable: S) => S) => Promise<T>,
): Promise<T> {
  const tracked: Stoppable[] = [];
  const stopAll = () =>
    Promise.allSettled(
      tracked
        .splice(0)
        .reverse()
        .map((s) => s.stop()),
    );
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping the benchmark's processes`);
    stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body((stoppable) => {
      tracked.push(stoppable);
      return stoppable;
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}
