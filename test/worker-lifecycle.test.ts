import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess } from '../harness/cli-process.js';
import { FakeEmbeddingServer } from '../harness/fake-embedding-server.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, type TestStack } from '../harness/stack.js';

describe('Worker process', () => {
  let redis: TestRedisServer;
  let embeddings: FakeEmbeddingServer;
  let stack: TestStack;
  const processes: CliProcess[] = [];

  /** Worker settings: slow embedding through the fake API, and fast lock expiry for recovery. */
  const workerEnv = () => ({
    EMBEDDING_PROVIDER: 'openai',
    EMBEDDING_URL: embeddings.url,
    EMBEDDING_MODEL: 'fake-8d',
    JOB_LOCK_MS: '2000',
    STALLED_INTERVAL_MS: '1000',
  });

  function startWorker(name: string): CliProcess {
    const proc = new CliProcess(['worker'], {
      REDIS_URL: stack.config.redis.url!,
      QUEUE_NAME: stack.config.queue.name,
      UPLOAD_DIR: stack.config.http.uploadDir,
      WORKER_ID: name,
      ...workerEnv(),
    });
    processes.push(proc);
    return proc;
  }

  beforeAll(async () => {
    redis = await startRedisServer();
    embeddings = await new FakeEmbeddingServer().start();
  });

  afterEach(async () => {
    embeddings.release();
    await Promise.all(processes.splice(0).map((proc) => proc.stop()));
    await stack?.close();
  });

  afterAll(async () => {
    await embeddings.stop();
    await redis.stop();
  });

  it('should finish the job in flight on SIGTERM, take no new one, and exit 0', async () => {
    stack = await createTestStack(redis, workerEnv(), { worker: false });
    const worker = startWorker('graceful');
    await worker.waitForLog((line) => line.msg === 'worker taking jobs');
    embeddings.hold();
    const before = embeddings.requests;
    const first = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('first job'), 'a.txt');
    await embeddings.waitForRequests(before + 1);
    worker.kill('SIGTERM');
    await worker.waitForLog((line) => line.msg === 'worker stopping: finishing jobs in flight');
    // Enqueued after the stop began: must stay waiting for another worker.
    const second = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('second job'), 'b.txt');
    embeddings.release();
    const { code } = await worker.exited;
    expect(code).toBe(0);
    expect((await stack.context.records.get(first.body.id))?.status).toBe('completed');
    expect((await stack.context.records.get(second.body.id))?.status).toBe('queued');
  });

  it.each([
    ['frozen', (server: TestRedisServer) => server.freeze()],
    ['down', (server: TestRedisServer) => server.stop()],
  ] as const)(
    'should exit within SHUTDOWN_TIMEOUT_SECONDS plus a margin on SIGTERM while its Redis is %s',
    async (_, breakRedis) => {
      // A Redis of its own: this one is frozen or stopped.
      const own = await startRedisServer();
      try {
        const proc = new CliProcess(['worker'], {
          REDIS_URL: own.url,
          QUEUE_NAME: 'sigterm_no_redis',
          UPLOAD_DIR: join(tmpdir(), 'qscale-sigterm-no-redis'),
          WORKER_ID: 'cut-off',
          SHUTDOWN_TIMEOUT_SECONDS: '2',
        });
        processes.push(proc);
        await proc.waitForLog((line) => line.msg === 'worker taking jobs');
        await breakRedis(own);
        // Let the worker notice (blocked reads, heartbeats) before it is asked to stop.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        const asked = Date.now();
        proc.kill('SIGTERM');
        await proc.exited;
        // 2 s to finish jobs + the shutdown margin (5 s), with room for a loaded machine.
        expect(Date.now() - asked).toBeLessThan(2_000 + 5_000 + 3_000);
      } finally {
        own.thaw();
        await own.stop();
      }
    },
    30_000,
  );

  it('should complete a job on a second worker after the first is SIGKILLed mid-job', async () => {
    stack = await createTestStack(redis, workerEnv(), { worker: false });
    const a = startWorker('doomed');
    await a.waitForLog((line) => line.msg === 'worker taking jobs');
    embeddings.hold();
    const before = embeddings.requests;
    const upload = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('survive a crash'), 'c.txt');
    await embeddings.waitForRequests(before + 1);
    expect((await stack.context.records.get(upload.body.id))?.status).toBe('processing');
    a.kill('SIGKILL');
    await a.exited;
    embeddings.release();

    const b = startWorker('rescuer');
    const record = await stack.waitForStatus(upload.body.id, 'completed', 20_000);
    expect(record.attempts).toBe(2);
    const done = await b.waitForLog((line) => line.msg === 'file processed');
    expect(done.fileId).toBe(upload.body.id);
  });
});
