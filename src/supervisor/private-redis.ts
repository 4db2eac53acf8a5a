import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import type { Logger } from '../config/logger.js';

/** redis-server is not on PATH and no REDIS_URL was given. */
export class RedisServerMissingError extends Error {
  constructor() {
    super(
      'redis-server was not found on PATH. Install it (Debian/Ubuntu: apt-get install redis-server; ' +
        'macOS: brew install redis) or set REDIS_URL to a Redis you already run, e.g. REDIS_URL=redis://127.0.0.1:6379',
    );
    this.name = 'RedisServerMissingError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `pid` is alive and its command line matches: a pid file may outlive its process, and
 * the number may since belong to something else, which must never be signalled.
 */
export async function isRunning(pid: number, command: RegExp): Promise<boolean> {
  if (!isAlive(pid)) return false;
  try {
    return command.test((await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' '));
  } catch {
    // No /proc (macOS): trust the pid file.
    return true;
  }
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

async function readUrlFile(dataDir: string, file: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dataDir, file), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The URL of the private Redis a running `qscale start` wrote, if any. */
export function readPrivateRedisUrl(dataDir: string): Promise<string | undefined> {
  return readUrlFile(dataDir, 'redis.url');
}

/**
 * The Redis that `qscale start` runs when no REDIS_URL is given: `redis-server` from PATH on a free
 * loopback port, data under `dataDir` with the append-only file on, so queued jobs survive a
 * restart. One per data directory: a second `qscale start` on the same directory is refused.
 */
export class PrivateRedis {
  private readonly dataDir: string;
  private readonly logger: Logger;
  private child?: ChildProcess;
  private stopping?: Promise<void>;
  /** Set once this process holds the data directory: only then does close() clean it up. */
  private ownsDataDir = false;
  url = '';

  constructor(dataDir: string, logger: Logger) {
    this.dataDir = dataDir;
    this.logger = logger;
  }

  private path(name: string): string {
    return join(this.dataDir, name);
  }

  async start(): Promise<string> {
    await mkdir(this.dataDir, { recursive: true });
    const ownerPid = await readPid(this.path('qscale.pid'));
    if (
      ownerPid !== undefined &&
      ownerPid !== process.pid &&
      (await isRunning(ownerPid, /cli\/main\.[jt]s/))
    ) {
      throw new Error(
        `another qscale start (pid ${ownerPid}) is using ${this.dataDir}; stop it, or set REDIS_DATA_DIR to another directory`,
      );
    }
    // A redis-server left running by a qscale that was killed: stop it before taking over its files.
    const orphanPid = await readPid(this.path('redis.pid'));
    if (orphanPid !== undefined && (await isRunning(orphanPid, /redis-server/))) {
      this.logger.warn(
        { pid: orphanPid },
        'stopping a private redis-server left by an earlier run',
      );
      process.kill(orphanPid, 'SIGTERM');
      await waitFor(async () => !isAlive(orphanPid), 10_000);
    }
    await writeFile(this.path('qscale.pid'), `${process.pid}\n`);
    this.ownsDataDir = true;

    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await getPort({ host: '127.0.0.1' });
      try {
        await this.spawnOn(port);
        this.url = `redis://127.0.0.1:${port}`;
        await writeFile(this.path('redis.url'), `${this.url}\n`);
        this.logger.info({ url: this.url, dataDir: this.dataDir }, 'private redis-server started');
        return this.url;
      } catch (error) {
        if (error instanceof RedisServerMissingError) throw error;
        lastError = error as Error;
      }
    }
    throw lastError ?? new Error('redis-server did not start');
  }

  private async spawnOn(port: number): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--protected-mode',
        'yes',
        '--dir',
        this.dataDir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
        '--pidfile',
        this.path('redis.pid'),
        '--logfile',
        'redis.log',
        '--daemonize',
        'no',
      ],
      // Its own process group: a Ctrl-C in the terminal must not stop Redis before the worker has
      // finished its jobs; stop() shuts it down last.
      { stdio: 'ignore', detached: true },
    );
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT' ? new RedisServerMissingError() : error),
      );
      child.once('exit', (code) =>
        reject(new Error(`redis-server exited with code ${code}; see ${this.path('redis.log')}`)),
      );
    });
    failed.catch(() => undefined);
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined);
    try {
      const ready = waitFor(async () => {
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      }, 15_000);
      const ok = await Promise.race([ready, failed]);
      if (!ok) {
        child.kill('SIGKILL');
        throw new Error(`redis-server did not answer on port ${port} within 15 s`);
      }
    } finally {
      probe.disconnect();
    }
    this.child = child;
  }

  /** Stops redis-server (it flushes the append-only file first); idempotent. */
  close(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.ownsDataDir) return;
      const child = this.child;
      await rm(this.path('redis.url'), { force: true });
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(this.path('qscale.pid'), { force: true });
      this.logger.info('private redis-server stopped');
    })();
    return this.stopping;
  }
}

/** Whether `qscale start` would run its own Redis (no REDIS_URL, no Sentinel, no Cluster). */
export function wantsPrivateRedis(redis: {
  url?: string;
  sentinels?: unknown[];
  clusterNodes?: unknown[];
}): boolean {
  return (
    redis.url === undefined &&
    !(redis.sentinels && redis.sentinels.length > 0) &&
    !(redis.clusterNodes && redis.clusterNodes.length > 0)
  );
}
