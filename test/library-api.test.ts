import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { instrumentWorker } from '../src/index.js';
import { find, parsePromText, type PromSample } from '../harness/prom-text.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { scrapeUntil } from '../harness/scrape-until.js';
import { testEnv } from '../harness/stack.js';
import { uniqueQueueName } from '../harness/test-queue.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('library API: instrumentWorker', () => {
  let redis: TestRedisServer;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await redis.stop();
  });

  /** An exporter watching `bullmq:<prefix>/<name>`. */
  async function exporterFor(prefix: string, name: string): Promise<RunningExporter> {
    const config = loadConfig(
      await testEnv(redis, {
        QUEUE_NAME: name,
        QUEUES: `bullmq:${prefix}/${name}`,
        HOST: '127.0.0.1',
        SAMPLE_TTL_MS: '0',
      }),
    );
    return runExporter(config, createLogger(config, 'test'));
  }

  async function scrape(exporter: RunningExporter): Promise<PromSample[]> {
    return parsePromText(await (await fetch(`${exporter.url}/metrics`)).text());
  }

  const value = (samples: PromSample[], name: string, labels: Record<string, string>) =>
    find(samples, name, labels).reduce((sum, sample) => sum + sample.value, 0);

  /** The exporter's samples once `check` holds, or the latest after 10 s. */
  const until = (exporter: RunningExporter, check: (samples: PromSample[]) => boolean) =>
    scrapeUntil(`${exporter.url}/metrics`, check, 10_000);

  it('should give a plain BullMQ worker on another prefix the telemetry of qscale’s own workers', async () => {
    const prefix = 'myapp';
    const name = uniqueQueueName('emails');
    const exporter = await exporterFor(prefix, name);
    const connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    const queue = new Queue(name, { connection, prefix });
    try {
      await queue.addBulk(
        Array.from({ length: 6 }, (_, i) => ({
          name: 'send',
          data: { i },
          opts: { attempts: 1, removeOnFail: true },
        })),
      );
      const worker = new Worker(
        name,
        async (job) => {
          await new Promise((resolve) => setTimeout(resolve, 50));
          if ((job.data as { i: number }).i === 5) throw new Error('bounced');
        },
        { connection, prefix, concurrency: 2, name: 'mailer-1', autorun: false },
      );
      const telemetry = instrumentWorker(worker);
      await telemetry.ready;
      void worker.run();
      const labels = { queue: name };
      const samples = await until(
        exporter,
        (s) => value(s, 'qscale_jobs_processed_total', labels) === 6,
      );
      expect(
        value(samples, 'qscale_jobs_processed_total', { ...labels, status: 'completed' }),
      ).toBe(5);
      expect(value(samples, 'qscale_jobs_processed_total', { ...labels, status: 'failed' })).toBe(
        1,
      );
      expect(value(samples, 'qscale_job_processing_seconds_count', labels)).toBe(6);
      expect(value(samples, 'qscale_workers', labels)).toBe(1);
      expect(
        find(samples, 'qscale_worker_concurrency', { ...labels, worker: 'mailer-1' }).map(
          (sample) => sample.value,
        ),
      ).toEqual([2]);

      // A closed worker leaves at once.
      await worker.close();
      const after = await until(exporter, (s) => value(s, 'qscale_workers', labels) === 0);
      expect(value(after, 'qscale_workers', labels)).toBe(0);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
      await exporter.close();
    }
  });

  it('should let a worker close and its process exit while Redis does not answer', async () => {
    const own = await startRedisServer();
    const connection = new Redis(own.port, '127.0.0.1', { maxRetriesPerRequest: null });
    connection.on('error', () => undefined);
    const worker = new Worker(uniqueQueueName('frozen'), async () => 'ok', {
      connection,
      autorun: false,
    });
    worker.on('error', () => undefined);
    const telemetry = instrumentWorker(worker, {
      logger: createLogger({ logLevel: 'silent' }, 'test'),
    });
    try {
      await telemetry.ready;
      own.freeze();
      const started = Date.now();
      await telemetry.close();
      // Bounded: the leave waits 5 s for Redis, then the telemetry connection is dropped.
      expect(Date.now() - started).toBeLessThan(7000);
    } finally {
      own.thaw();
      await worker.close(true);
      connection.disconnect();
      await own.stop();
    }
  }, 20_000);

  it('should install from the packed tarball into an app outside the repo and work there', async () => {
    const app = await mkdtemp(join(tmpdir(), 'qscale-consumer-'));
    const name = uniqueQueueName('reports');
    const exporter = await exporterFor('consumer', name);
    try {
      await run('npm', ['pack', '--silent', '--pack-destination', app], { cwd: ROOT });
      const tarball = (await readdir(app)).find((file) => file.endsWith('.tgz'))!;
      const bullmq = (await import('bullmq/package.json', { with: { type: 'json' } })).default
        .version;
      await writeFile(
        join(app, 'package.json'),
        JSON.stringify({
          name: 'consumer',
          private: true,
          type: 'module',
          dependencies: { qscale: `file:./${tarball}`, bullmq },
        }),
      );
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent'], {
        cwd: app,
      });
      // The consumer's own worker: qscale only through its public entry point, with types.
      await writeFile(
        join(app, 'worker.mjs'),
        `import { Queue, Worker } from 'bullmq';
import { instrumentWorker } from 'qscale';
const connection = { host: '127.0.0.1', port: ${redis.port}, maxRetriesPerRequest: null };
const queue = new Queue('${name}', { connection, prefix: 'consumer' });
await queue.addBulk([1, 2, 3].map((i) => ({ name: 'r', data: { i } })));
const worker = new Worker('${name}', async () => 'ok', { connection, prefix: 'consumer', name: 'consumer-1' });
instrumentWorker(worker);
while ((await queue.getCompletedCount()) < 3) await new Promise((r) => setTimeout(r, 50));
await new Promise((r) => setTimeout(r, 300));
console.log(JSON.stringify({ completed: await queue.getCompletedCount() }));
await worker.close();
await queue.close();
`,
      );
      const { stdout } = await run(process.execPath, ['worker.mjs'], { cwd: app });
      expect(JSON.parse(stdout.trim())).toEqual({ completed: 3 });
      const samples = await scrape(exporter);
      expect(
        value(samples, 'qscale_jobs_processed_total', { queue: name, status: 'completed' }),
      ).toBe(3);
      expect(value(samples, 'qscale_job_processing_seconds_count', { queue: name })).toBe(3);
      // It left the live set when its worker closed.
      expect(value(samples, 'qscale_workers', { queue: name })).toBe(0);
      const { stdout: version } = await run(process.execPath, [
        join(app, 'node_modules', 'qscale', 'dist', 'cli', 'main.js'),
        '--version',
      ]);
      expect(version.trim()).toMatch(/^\d+\.\d+\.\d+/);
      // Typed: the entry point's declarations ship in the tarball.
      expect(await readdir(join(app, 'node_modules', 'qscale', 'dist'))).toContain('index.d.ts');
    } finally {
      await exporter.close();
      await rm(app, { recursive: true, force: true });
    }
  }, 300_000);
});
