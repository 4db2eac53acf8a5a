import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UploadSweeper } from '../src/app/upload-sweeper.js';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runApp } from '../src/cli/run-app.js';
import { CliProcess } from '../harness/cli-process.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { startSlowUpload } from '../harness/slow-upload.js';
import { createTestStack, testEnv, type TestStack } from '../harness/stack.js';

const HOUR = 3600_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('UploadSweeper', () => {
  let redis: TestRedisServer;
  let stack: TestStack;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterEach(async () => {
    await stack?.close();
  });

  afterAll(async () => {
    await redis.stop();
  });

  const sweeperOf = (s: TestStack) =>
    new UploadSweeper(s.context, { graceMs: HOUR, intervalMs: 10 * 60_000 });

  /** A file in the upload dir, last written `ageMs` ago. */
  async function leftover(path: string, ageMs: number): Promise<string> {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, 'left behind');
    const when = new Date(Date.now() - ageMs);
    await utimes(path, when, when);
    return path;
  }

  it('should remove .part files and blobs without records older than the grace period, and nothing else', async () => {
    stack = await createTestStack(redis, {}, { worker: false });
    const upload = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('kept'), 'kept.txt');
    expect(upload.status).toBe(202);
    const kept = join(stack.uploadDir, 'blobs', upload.body.id);
    // The record's blob, even when old, stays.
    await utimes(kept, new Date(Date.now() - 2 * HOUR), new Date(Date.now() - 2 * HOUR));
    const oldPart = await leftover(
      join(stack.uploadDir, 'tmp', `${randomUUID()}.ab12.part`),
      2 * HOUR,
    );
    const newPart = await leftover(
      join(stack.uploadDir, 'tmp', `${randomUUID()}.cd34.part`),
      60_000,
    );
    const orphan = await leftover(join(stack.uploadDir, 'blobs', randomUUID()), 2 * HOUR);
    const youngOrphan = await leftover(join(stack.uploadDir, 'blobs', randomUUID()), 60_000);

    const report = await sweeperOf(stack).sweep();

    expect(report).toEqual({ partialFiles: 1, orphanBlobs: 1, failedRecords: 0 });
    const files = await stack.listUploadFiles();
    expect(files.sort()).toEqual([kept, newPart, youngOrphan].sort());
    expect(files).not.toContain(oldPart);
    expect(files).not.toContain(orphan);
    expect((await stack.context.records.get(upload.body.id))?.status).toBe('queued');
  });

  it('should fail records whose job ended for good or is gone, with the reason, and leave running ones alone', async () => {
    stack = await createTestStack(redis, { JOB_ATTEMPTS: '1' }, { worker: false });
    const upload = async (name: string) => {
      const response = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from(name), name);
      expect(response.status).toBe(202);
      return response.body.id as string;
    };
    const refused = await upload('refused.txt');
    const waiting = await upload('waiting.txt');
    // A worker that fails the job without writing the record — as when Redis refused that write
    // (maxmemory): the record still says queued while the job has failed for good.
    const connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    const failing = new Worker(
      stack.config.queue.name,
      async (job) => {
        if (job.id === refused)
          throw new Error('OOM command not allowed when used memory > maxmemory');
        await new Promise((resolve) => setTimeout(resolve, 60_000));
      },
      {
        connection,
        prefix: stack.config.queue.prefix,
        autorun: false,
      },
    );
    const failed = new Promise((resolve) => failing.once('failed', resolve));
    void failing.run();
    await failed;
    await failing.close(true);
    connection.disconnect();
    // A record whose job was lost (a Redis restarted empty) an hour ago, and one lost just now.
    const lost = await upload('lost.txt');
    const lostRecently = await upload('lost-recently.txt');
    await stack.context.queue.remove(lost);
    await stack.context.queue.remove(lostRecently);
    await stack.context.redis.hset(
      stack.context.keys.file(lost),
      'uploadedAt',
      Date.now() - 2 * HOUR,
    );

    const report = await sweeperOf(stack).sweep();

    expect(report.failedRecords).toBe(2);
    const record = (id: string) => stack.context.records.get(id);
    expect(await record(refused)).toMatchObject({
      status: 'failed',
      error: 'OOM command not allowed when used memory > maxmemory',
    });
    expect(await record(lost)).toMatchObject({
      status: 'failed',
      error: 'its job is gone (removed, or lost with Redis); upload the file again',
    });
    expect((await record(lostRecently))?.status).toBe('queued');
    // Its job is still active or waiting: nothing to fix.
    expect((await record(waiting))?.status).toBe('queued');
    // A second sweep finds nothing left to do.
    expect(await sweeperOf(stack).sweep()).toEqual({
      partialFiles: 0,
      orphanBlobs: 0,
      failedRecords: 0,
    });
  });

  it('should let one of several replicas sweep per interval', async () => {
    stack = await createTestStack(redis, {}, { worker: false });
    const a = sweeperOf(stack);
    const b = sweeperOf(stack);
    const [first, second] = await Promise.all([a.sweepIfFirst(), b.sweepIfFirst()]);
    expect([first, second].filter((report) => report === undefined)).toHaveLength(1);
  });

  it('should sweep when the upload API starts', async () => {
    const config = loadConfig(
      await testEnv(redis, { PORT: '0', HOST: '127.0.0.1', SWEEP_GRACE_SECONDS: '60' }),
    );
    await leftover(join(config.http.uploadDir, 'tmp', `${randomUUID()}.ef56.part`), 2 * 60_000);
    const app = await runApp(config, createLogger(config, 'test'));
    try {
      const tmp = join(config.http.uploadDir, 'tmp');
      await expect
        .poll(() => readdir(tmp), { timeout: 5000, interval: 25, message: `files in ${tmp}` })
        .toEqual([]);
    } finally {
      await app.close();
      await rm(config.http.uploadDir, { recursive: true, force: true });
    }
  });

  it('should sweep at start after a crash: the lock of a SIGKILLed process is taken over once its heartbeat lapses', async () => {
    const env = await testEnv(redis, {
      PORT: '0',
      HOST: '127.0.0.1',
      SWEEP_GRACE_SECONDS: '1',
      LOG_LEVEL: 'info',
    });
    const tmp = join(env.UPLOAD_DIR!, 'tmp');
    const lockKey = `bull:${env.QUEUE_NAME}:qscale:sweep-lock`;
    const client = redis.client();
    const first = new CliProcess(['app'], env);
    let second: CliProcess | undefined;
    try {
      const listening = await first.waitForLog(
        (line) => line.msg?.startsWith('upload API listening') === true,
      );
      const { port } = new URL(listening.url as string);
      // An upload cut short by the crash: half a file, then the process dies.
      startSlowUpload(Number(port)).answer.catch(() => undefined);
      await expect
        .poll(async () => (await readdir(tmp).catch(() => [])).length, { timeout: 10_000 })
        .toBe(1);
      // The first process swept at start and holds the lock for its interval (600 s).
      await expect.poll(() => client.get(lockKey), { timeout: 10_000 }).not.toBeNull();
      first.kill('SIGKILL');
      await first.exited;
      // Redis still says the dead process holds the lock (the test's own Redis; the key is the
      // sweeper's, read to show what the restart has to get past).
      const deadOwner = await client.get(lockKey);
      await sleep(1200); // the .part is now older than SWEEP_GRACE_SECONDS

      const restarted = Date.now();
      second = new CliProcess(['app'], env);
      const swept = await second.waitForLog(
        (line) => line.msg === 'swept leftovers of interrupted uploads and jobs',
        40_000,
      );
      const tookMs = Date.now() - restarted;
      expect(swept.partialFiles).toBe(1);
      // The lock named its owner: WORKER_ID/pid/random.
      expect(deadOwner).toContain(`/${first.child.pid}/`);
      expect(await readdir(tmp)).toEqual([]);
      expect(second.lines).toContainEqual(
        expect.objectContaining({
          msg: 'took over a lock whose owner is gone',
          previousOwner: deadOwner,
        }),
      );
      // Within the dead process's heartbeat (15 s) and a start, not its 600 s interval.
      expect(tookMs).toBeLessThan(30_000);
      console.info(`restart after SIGKILL swept the .part ${tookMs} ms after the restart`);
      // A clean stop releases the lock: the next process sweeps at once.
      second.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
      expect(await client.get(lockKey)).toBeNull();
    } finally {
      await first.stop();
      await second?.stop();
      client.disconnect();
      await rm(env.UPLOAD_DIR!, { recursive: true, force: true });
    }
  }, 60_000);
});
