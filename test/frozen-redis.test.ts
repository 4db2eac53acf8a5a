import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { collectStatus } from '../src/cli/status.js';
import { loadConfig } from '../src/config/load-config.js';
import { runDoctor } from '../src/doctor/doctor.js';
import { TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, testEnv, type TestStack } from '../harness/stack.js';
import { runCli } from '../harness/cli-process.js';

/** The deadline these tests give every Redis call on a request path. */
const TIMEOUT_MS = 300;
/** What a request may take beyond it: the handler's own work, supertest, a busy CI machine. */
const MARGIN_MS = 700;
/** The same for a whole CLI process, whose start-up time varies more on a busy machine. */
const CLI_MARGIN_MS = 1500;

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}

/** Until `check` is true (a rejection counts as not yet). */
const waitFor = (check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> =>
  vi.waitFor(
    async () => {
      if (!(await check())) throw new Error('condition not met in time');
    },
    { timeout: timeoutMs, interval: 50 },
  );

describe('A frozen Redis (SIGSTOP) on every request path', () => {
  let redis: TestRedisServer;
  let stack: TestStack;

  beforeAll(async () => {
    redis = await new TestRedisServer().start();
    stack = await createTestStack(redis, { REDIS_TIMEOUT_MS: String(TIMEOUT_MS) });
  });

  afterEach(() => redis.thaw());

  afterAll(async () => {
    redis.thaw();
    await stack.close();
    await redis.stop();
  });

  const upload = (name: string, key?: string) => {
    const req = request(stack.app).post('/api/v1/files');
    if (key) req.set('Idempotency-Key', key);
    return req.attach('file', Buffer.from(`text of ${name} ${randomUUID()}`), name);
  };

  it('should answer every API path 503 with Retry-After within the deadline, and recover by itself', async () => {
    const ok = await upload('before.txt');
    expect(ok.status).toBe(202);
    const id = ok.body.id as string;
    await stack.waitForStatus(id, 'completed');

    redis.freeze();
    const paths = {
      upload: () => upload('frozen.txt'),
      'upload with Idempotency-Key': () => upload('frozen-key.txt', randomUUID()),
      'file status': () => request(stack.app).get(`/api/v1/files/${id}`),
      chunks: () => request(stack.app).get(`/api/v1/files/${id}/chunks`),
      delete: () => request(stack.app).delete(`/api/v1/files/${id}`),
      search: () => request(stack.app).post('/api/v1/search').send({ query: 'text' }),
    };
    for (const [path, call] of Object.entries(paths)) {
      const { result, ms } = await timed(call);
      expect({ path, status: result.status }).toEqual({ path, status: 503 });
      expect(result.headers['retry-after'], path).toBeDefined();
      expect(result.body.error.message, path).toMatch(/Redis/);
      expect(ms, path).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    }
    // Nothing was written to disk by the refused uploads.
    expect(await stack.listUploadFiles()).toHaveLength(1);

    redis.thaw();
    await waitFor(async () => (await upload('after.txt')).status === 202);
    // The refused delete left the file whole: record, chunks and blob.
    const after = await request(stack.app).get(`/api/v1/files/${id}/chunks`);
    expect(after.status).toBe(200);
    expect(after.body.total).toBeGreaterThan(0);
    expect((await stack.listUploadFiles()).some((f) => f.includes(id))).toBe(true);
  });

  it('should let status and doctor report a frozen Redis within their deadline', async () => {
    const config = loadConfig(await testEnv(redis));
    redis.freeze();
    const status = await timed(() => collectStatus(config, 500));
    expect(status.result.redis.up).toBe(false);
    expect(status.ms).toBeLessThan(500 + MARGIN_MS);
    const doctor = await timed(() => runDoctor(config, { timeoutMs: 500 }));
    expect(doctor.result.exitCode).toBe(2);
    expect(doctor.result.checks.find((c) => c.name === 'reachable')?.status).toBe('FAIL');
    expect(doctor.ms).toBeLessThan(500 + MARGIN_MS);
  });

  it('should let the status and doctor commands give up on a frozen Redis after REDIS_TIMEOUT_MS', async () => {
    // The real CLI, which used to wait a fixed 3 s per step whatever REDIS_TIMEOUT_MS said.
    const env = {
      REDIS_URL: redis.url,
      QUEUE_NAME: stack.config.queue.name,
      REDIS_TIMEOUT_MS: '500',
    };
    // Each process's own start-up, measured against a Redis that answers.
    const live = {
      status: await timed(() => runCli(['status', '--json'], env)),
      doctor: await timed(() => runCli(['doctor', '--json'], env)),
    };
    expect(live.status.result.code, live.status.result.stderr).toBe(0);
    redis.freeze();
    const status = await timed(() => runCli(['status', '--json'], env));
    expect(status.result.code).toBe(1);
    expect(JSON.parse(status.result.stdout).redis.up).toBe(false);
    expect(status.ms - live.status.ms).toBeLessThan(500 + CLI_MARGIN_MS);
    const doctor = await timed(() => runCli(['doctor', '--json'], env));
    expect(doctor.result.code).toBe(2);
    expect(doctor.ms - live.doctor.ms).toBeLessThan(500 + CLI_MARGIN_MS);
  });

  it('should keep an upload whose enqueue went unanswered whole, and replay it for its Idempotency-Key', async () => {
    const key = randomUUID();
    // Freeze Redis the moment the jobs are sent: the enqueue has no answer within the deadline,
    // but it is on its way and runs when Redis resumes.
    const addBulk = stack.context.queue.addBulk.bind(stack.context.queue);
    stack.context.queue.addBulk = (jobs) => {
      const sent = addBulk(jobs);
      redis.freeze();
      return sent;
    };
    let first;
    try {
      first = await timed(() => upload('unknown-outcome.txt', key));
    } finally {
      stack.context.queue.addBulk = addBulk;
    }
    expect(first.result.status).toBe(503);
    expect(first.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);

    // While Redis is away the outcome stays open; a retry is answered 503 too.
    expect((await upload('unknown-outcome.txt', key)).status).toBe(503);
    redis.thaw();
    await stack.context.settler.idle();

    const retry = await upload('unknown-outcome.txt', key);
    expect(retry.status).toBe(202);
    const id = retry.body.id as string;
    const record = await stack.waitForStatus(id, 'completed');
    expect(record.attempts).toBe(1);
    expect(await stack.context.records.listIds()).toContain(id);
    expect(await stack.listUploadFiles()).toEqual(
      expect.arrayContaining([expect.stringContaining(id)]),
    );
    // A second retry replays the same file; there is one job for it.
    expect((await upload('unknown-outcome.txt', key)).body.id).toBe(id);
    expect(
      (await stack.context.queue.getJobs(['completed'])).filter((j) => j.id === id),
    ).toHaveLength(1);
  });

  it('should remove an upload whose records went unanswered before its jobs were sent', async () => {
    const key = randomUUID();
    const createPending = stack.context.records.createPending.bind(stack.context.records);
    stack.context.records.createPending = (...args) => {
      redis.freeze();
      return createPending(...args);
    };
    const records = async () =>
      (await stack.listQueueKeys()).filter((k) => /:qscale:file:[0-9a-f-]+$/.test(k));
    const recordsBefore = await records();
    const filesBefore = await stack.listUploadFiles();
    let first;
    try {
      first = await timed(() => upload('never.txt', key));
    } finally {
      stack.context.records.createPending = createPending;
    }
    expect(first.result.status).toBe(503);
    expect(first.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    expect(await stack.listUploadFiles()).toEqual(filesBefore);
    redis.thaw();
    // The clean-up queued behind the records ran after them: no record is left, and no job.
    await waitFor(async () => (await records()).length === recordsBefore.length);
    expect(await records()).toEqual(recordsBefore);
    expect(await stack.context.queue.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0 });
    const retry = await upload('never.txt', key);
    expect(retry.status).toBe(202);
    await stack.waitForStatus(retry.body.id as string, 'completed');
  });
});

describe('REDIS_MIN_REPLICAS_ACK', () => {
  let primary: TestRedisServer;
  let replica: TestRedisServer | undefined;

  beforeAll(async () => {
    // Replicas sync at once (the default waits 5 s for more replicas before a diskless sync).
    primary = await new TestRedisServer(['--repl-diskless-sync-delay', '0']).start();
  });

  afterAll(async () => {
    await replica?.stop();
    await primary.stop();
  });

  it('should answer 503 and roll the upload back whole when no replica confirms it', async () => {
    const stack = await createTestStack(primary, {
      REDIS_MIN_REPLICAS_ACK: '1',
      REDIS_ACK_TIMEOUT_MS: '100',
    });
    try {
      const key = randomUUID();
      const res = await request(stack.app)
        .post('/api/v1/files')
        .set('Idempotency-Key', key)
        .attach('file', Buffer.from('must be replicated'), 'a.txt');
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('replication_unconfirmed');
      expect(res.body.error.message).toContain('REDIS_MIN_REPLICAS_ACK');
      expect(res.headers['retry-after']).toBeDefined();
      // The blob goes within the rollback's own round trips: a primary without any replica has
      // nothing a failover could bring back (it stayed 10-20 s, for 10 tries of a WAIT).
      const answered = performance.now();
      await waitFor(async () => (await stack.listUploadFiles()).length === 0, 5_000);
      expect(performance.now() - answered).toBeLessThan(100 + MARGIN_MS);
      await stack.context.settler.idle();
      // Nothing stays behind: no record, no job, no blob, and the key is free for a retry.
      expect(await stack.listUploadFiles()).toEqual([]);
      expect(await stack.context.queue.getJobCounts()).toMatchObject({
        waiting: 0,
        delayed: 0,
        active: 0,
      });
      const keys = await stack.listQueueKeys();
      expect(
        keys.filter((k) => k.includes(':qscale:file:') || k.includes(':qscale:idempotency:')),
      ).toEqual([]);
    } finally {
      await stack.close();
    }
  });

  it('should wait for replicas on a connection of its own, one WAIT for concurrent uploads', async () => {
    const stack = await createTestStack(primary, {
      REDIS_MIN_REPLICAS_ACK: '1',
      REDIS_ACK_TIMEOUT_MS: '400',
    });
    try {
      const known = await request(stack.app).get(
        '/api/v1/files/00000000-0000-4000-8000-000000000000',
      );
      expect(known.status).toBe(404);
      const uploads = Array.from({ length: 6 }, (_, i) =>
        timed(() =>
          request(stack.app)
            .post('/api/v1/files')
            .attach('file', Buffer.from(`concurrent ${i}`), `c${i}.txt`),
        ),
      );
      // Sent while the uploads wait for replicas: answered at once, not after their WAITs.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const read = await timed(() =>
        request(stack.app).get('/api/v1/files/00000000-0000-4000-8000-000000000000'),
      );
      expect(read.result.status).toBe(404);
      expect(read.ms).toBeLessThan(200);
      for (const { result, ms } of await Promise.all(uploads)) {
        expect(result.body.error.code).toBe('replication_unconfirmed');
        // Uploads that asked together share a round: at most two WAITs, never six in a row.
        expect(ms).toBeLessThan(2 * 400 + MARGIN_MS);
      }
      await stack.context.settler.idle();
      expect(await stack.listUploadFiles()).toEqual([]);
    } finally {
      await stack.close();
    }
  });

  it('should answer 202 once a real replica has the upload, and process it at once', async () => {
    replica = await new TestRedisServer(['--replicaof', '127.0.0.1', String(primary.port)]).start();
    const probe = primary.client();
    // A replica confirms writes only once its first sync is done (state=online).
    await waitFor(
      async () => /slave0:.*state=online/.test(await probe.info('replication')),
      20_000,
    );
    probe.disconnect();
    // Generous: a replica on a busy CI machine may take a while to acknowledge.
    const stack = await createTestStack(primary, {
      REDIS_MIN_REPLICAS_ACK: '1',
      REDIS_TIMEOUT_MS: '5000',
      REDIS_ACK_TIMEOUT_MS: '3000',
    });
    try {
      const started = Date.now();
      const res = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from('replicated text'), 'b.txt');
      expect(res.body).toMatchObject({ status: 'queued' });
      expect(res.status).toBe(202);
      // Released from the hold at once, not after it (30 s).
      await stack.waitForStatus(res.body.id as string, 'completed', 10_000);
      expect(Date.now() - started).toBeLessThan(10_000);
      // The replica holds the record.
      const onReplica = replica.client();
      expect(await onReplica.exists(stack.context.keys.file(res.body.id as string))).toBe(1);
      onReplica.disconnect();
    } finally {
      await stack.close();
    }
  });
});
