import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { killChild } from './kill-child.js';

/**
 * Runs `ask` on a fresh connection to the redis-server on loopback `port` and disconnects. The
 * connection fails at once instead of reconnecting (for probes and one-off commands).
 */
export async function withRedisClient<T>(
  port: number,
  ask: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 2000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await ask(client);
  } finally {
    client.disconnect();
  }
}

/**
 * Asks a redis-server that is starting on `port` (a fresh connection each try, every 30 ms) until
 * `ask` answers, for up to 10 s. `checkAlive` throws when the server process has exited.
 */
export async function whenRedisAnswers<T>(
  port: number,
  ask: (client: Redis) => Promise<T>,
  checkAlive: () => void = () => undefined,
): Promise<T> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    checkAlive();
    try {
      return await withRedisClient(port, ask);
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  throw new Error(`redis-server on port ${port} did not start within 10 s`);
}

/**
 * A real redis-server of the test's own, on a free loopback port, nothing persisted. Never the
 * shared one on 6379. `stop()` and `start()` let a test take Redis away and bring it back on the
 * same port.
 */
export class TestRedisServer {
  port = 0;
  private child?: ChildProcess;

  /** @param args extra redis-server arguments, e.g. `['--replicaof', '127.0.0.1', '6380']` */
  constructor(private readonly args: string[] = []) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts redis-server; a no-op while it is running. */
  async start(): Promise<this> {
    if (this.child && this.child.exitCode === null) return this;
    if (this.port === 0) this.port = await getPort({ host: '127.0.0.1' });
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        // A replica's sync writes an RDB file even with saving off: never into the work tree.
        '--dir',
        tmpdir(),
        '--dbfilename',
        `qscale-test-${this.port}.rdb`,
        '--daemonize',
        'no',
        ...this.args,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    await whenRedisAnswers(
      this.port,
      async (probe) => {
        if ((await probe.ping()) !== 'PONG') throw new Error('not ready');
      },
      () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      },
    );
    return this;
  }

  /** SIGSTOP: the server keeps its connections open but answers nothing (a frozen primary). */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** SIGCONT after {@link freeze}: the server runs the commands that queued up meanwhile. */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILLs the server at once, synchronously (for a process 'exit' handler). */
  killNow(): void {
    this.child?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await killChild(child);
    await rm(join(tmpdir(), `qscale-test-${this.port}.rdb`), { force: true });
  }

  /** A plain client for assertions; the caller disconnects it. */
  client(): Redis {
    const client = new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    // Tests that stop Redis expect connection errors; they must not be printed as unhandled.
    client.on('error', () => undefined);
    return client;
  }
}

export async function startRedisServer(): Promise<TestRedisServer> {
  return new TestRedisServer().start();
}
