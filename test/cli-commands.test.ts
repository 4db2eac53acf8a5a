import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { CliProcess, runCli } from '../harness/cli-process.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';

describe('qscale jobs beside a running sidecar', () => {
  let redis: TestRedisServer;
  let dir: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'qscale-jobs-'));
  });

  afterAll(async () => {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('should find the sidecar of a `qscale start` that uses REDIS_URL, by its REDIS_DATA_DIR', async () => {
    const dataDir = join(dir, 'start-data');
    // The shell of the issue: REDIS_URL and METRICS_PORT set for both commands (a port of this
    // test's own: the start's sidecar is there, and `jobs` must find it).
    const env = {
      REDIS_URL: redis.url,
      REDIS_DATA_DIR: dataDir,
      QUEUE_NAME: `jobs_${randomUUID().slice(0, 8)}`,
      UPLOAD_DIR: join(dir, 'uploads'),
      PORT: '0',
      METRICS_PORT: String(await getPort({ host: '127.0.0.1' })),
      KEDA_PORT: '0',
      HOST: '127.0.0.1',
      QSCALE_URL: '',
    };
    const start = new CliProcess(['start'], env);
    onTestFinished(() => start.stop());
    await start.waitForLog((line) => typeof line.upload === 'string');

    // Its record alone (METRICS_PORT=0 says nothing about where it is).
    const paused = await runCli(['jobs', 'pause', '--json'], { ...env, METRICS_PORT: '0' });
    expect(paused.code, paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout)).toMatchObject({ paused: true });
    // METRICS_PORT alone (another directory, no record there).
    const resumed = await runCli(['jobs', 'resume', '--json'], {
      ...env,
      REDIS_DATA_DIR: join(dir, 'elsewhere'),
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ paused: false });

    start.kill('SIGTERM');
    expect((await start.exited).code).toBe(0);
    // Its record goes with it; a start with its own Redis keeps its files as before.
    expect(existsSync(join(dataDir, 'sidecar.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'redis.url'))).toBe(false);
  });

  it('should ask the sidecar at METRICS_PORT when no `qscale start` recorded one', async () => {
    const queue = `jobs_${randomUUID().slice(0, 8)}`;
    const port = await getPort({ host: '127.0.0.1' });
    const exporter = new CliProcess(['exporter'], {
      REDIS_URL: redis.url,
      QUEUES: queue,
      METRICS_PORT: String(port),
      KEDA_PORT: '0',
      HOST: '127.0.0.1',
    });
    onTestFinished(() => exporter.stop());
    await exporter.waitForLog((line) => typeof line.metrics === 'string');

    const list = await runCli(['jobs', 'list', '--json'], {
      METRICS_PORT: String(port),
      REDIS_DATA_DIR: join(dir, 'nothing-recorded'),
      QSCALE_URL: '',
    });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ queue, total: 0 });
    // Nothing at the default port: the message names the address it tried.
    const missing = await runCli(['jobs', 'list'], {
      METRICS_PORT: String(await getPort({ host: '127.0.0.1' })),
      REDIS_DATA_DIR: join(dir, 'nothing-recorded'),
      QSCALE_URL: '',
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot reach the sidecar at http:\/\/127\.0\.0\.1:\d+/);
    expect(missing.stderr).not.toContain(':9464');
  });
});

describe('--log-level on every command', () => {
  let redis: TestRedisServer;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await redis.stop();
  });

  it('should be taken by status, doctor and jobs, and a bad level refused as a setting', async () => {
    const env = { REDIS_URL: redis.url, QUEUE_NAME: `flags_${randomUUID().slice(0, 8)}` };
    const status = await runCli(['status', '--json', '--log-level', 'warn'], env);
    expect(status.code, status.stderr).toBe(0);
    const doctor = await runCli(['doctor', '--json', '--log-level', 'warn'], env);
    // 0 or 1 (warnings about an empty queue without workers), never a usage error.
    expect([0, 1], doctor.stderr).toContain(doctor.code);
    expect(JSON.parse(doctor.stdout).checks.length).toBeGreaterThan(0);
    const jobs = await runCli(['jobs', 'list', '--log-level', 'warn'], {
      ...env,
      QSCALE_URL: `http://127.0.0.1:${await getPort({ host: '127.0.0.1' })}`,
    });
    // No sidecar there: the error of `jobs` is about that, not about the flag.
    expect(jobs.code).toBe(1);
    expect(jobs.stderr).toContain('cannot reach the sidecar');
    for (const command of [['status'], ['doctor'], ['jobs', 'list']]) {
      const bad = await runCli([...command, '--log-level', 'loud'], env);
      expect(bad.stderr, command.join(' ')).not.toContain('unknown option');
      expect(bad.code, command.join(' ')).toBe(2);
      expect(bad.stderr, command.join(' ')).toContain('LOG_LEVEL="loud"');
    }
  });
});
