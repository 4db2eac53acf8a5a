import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { Worker, type Queue } from 'bullmq';
import { Redis as IORedis, type Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetentionSweeper } from '../src/app/retention-sweeper.js';
import { UploadSweeper } from '../src/app/upload-sweeper.js';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { errorResponse } from '../src/http/error-response.js';
import { toGrpcError } from '../src/keda/scaler-error.js';
import { TestRedisServer } from '../harness/redis-server.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { createTestStack, testEnv, type TestStack } from '../harness/stack.js';
import { openTestQueue, uniqueQueueName } from '../harness/test-queue.js';

/** Response bodies, read loosely: each assertion names the field it needs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Fills Redis with keys of the test's own until it refuses one (maxmemory, noeviction), then sets
 * maxmemory 1 MB under what it uses: client buffers move `used_memory` by tens of KB, and a Redis
 * just at its limit takes a small write now and then; this keeps it over for the whole test.
 * Returns the refusal.
 */
async function fill(client: Redis): Promise<Error> {
  const filler = Buffer.alloc(64 * 1024, 'x');
  for (let i = 0; ; i++) {
    const refused = await client.set(`filler:${i}`, filler).then(
      () => undefined,
      (error: Error) => error,
    );
    if (refused) {
      const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
      await client.config('SET', 'maxmemory', String(used - 1024 * 1024));
      return refused;
    }
  }
}

/** Removes the keys {@link fill} wrote and lifts the limit. */
async function empty(client: Redis): Promise<void> {
  await client.config('SET', 'maxmemory', '0');
  const keys = await client.keys('filler:*');
  for (let i = 0; i < keys.length; i += 100) await client.del(...keys.slice(i, i + 100));
}

describe('A full Redis (maxmemory, noeviction), filled after the stack has been warm', () => {
  let redis: TestRedisServer;
  let client: Redis;
  let stack: TestStack;
  let exporter: RunningExporter;
  let other: { queue: Queue; close: () => Promise<void> };
  const otherName = uniqueQueueName('full');
  /** Files that completed before Redis filled up. */
  const files: string[] = [];
  const jobs: Record<string, string> = {};

  beforeAll(async () => {
    redis = await new TestRedisServer([
      '--maxmemory',
      '64mb',
      '--maxmemory-policy',
      'noeviction',
    ]).start();
    client = redis.client();
    stack = await createTestStack(redis, { JOB_ATTEMPTS: '1' });
    // Warm: uploads served, processed, searchable; the scripts are loaded.
    for (let i = 0; i < 5; i++) {
      const res = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from(`Lighthouse number ${i} guards the coast.`), `f${i}.txt`);
      expect(res.status).toBe(202);
      files.push(res.body.id as string);
    }
    for (const id of files) await stack.waitForStatus(id, 'completed');
    await stack.worker!.close();

    // Another app's BullMQ queue the sidecar's console acts on: failed, completed, delayed jobs.
    other = openTestQueue(redis, otherName);
    const worker = new Worker(
      otherName,
      async (job) => {
        if ((job.data as { fail?: boolean }).fail) throw new Error('cannot');
      },
      {
        connection: new IORedis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null }),
        prefix: 'bull',
      },
    );
    for (const [name, data] of [
      ['failedA', { fail: true }],
      ['failedB', { fail: true }],
      ['done', {}],
      ['done2', {}],
    ] as const) {
      jobs[name] = (await other.queue.add(name, data, { attempts: 1 })).id!;
    }
    while ((await other.queue.getJobCounts('completed')).completed < 2) await sleep(20);
    while ((await other.queue.getJobCounts('failed')).failed < 2) await sleep(20);
    await worker.close();
    await worker.disconnect();
    jobs.delayed = (await other.queue.add('later', {}, { delay: 3_600_000 })).id!;

    const config = loadConfig(
      await testEnv(redis, {
        QUEUE_NAME: stack.config.queue.name,
        QUEUES: `${stack.config.queue.name},${otherName}`,
        HOST: '127.0.0.1',
        SAMPLE_TTL_MS: '0',
        HISTORY: 'off',
      }),
    );
    exporter = await runExporter(config, createLogger(config, 'test'));
  });

  afterAll(async () => {
    await client.config('SET', 'maxmemory', '0');
    await exporter?.close();
    await other?.close();
    await stack?.close();
    client?.disconnect();
    await redis.stop();
  });

  /** A console request to the other app's queue, as the page sends it (JSON, loopback). */
  const act = async (method: string, path: string, body: unknown = {}) => {
    const base = `${exporter.url.replace('localhost', '127.0.0.1')}/api/v1/queues/${otherName}`;
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      ...(method === 'POST' && { body: JSON.stringify(body) }),
    });
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: (await res.json()) as Json,
    };
  };
  const stateOf = async (id: string) => (await other.queue.getJob(id))?.getState() ?? 'removed';

  /**
   * Runs a console action on a full Redis: done (200, `read()` gives `after`), or refused (503
   * redis_full with Retry-After, `read()` unchanged) — never anything else. Returns the status.
   */
  async function expectDoneOrRefused(
    name: string,
    run: () => Promise<{ status: number; retryAfter: string | null; body: Json }>,
    read: () => Promise<unknown>,
    after: unknown,
  ): Promise<number> {
    const before = await read();
    const res = await run();
    expect([200, 503], `${name}: ${JSON.stringify(res.body)}`).toContain(res.status);
    if (res.status === 503) {
      expect(res.body.error.code, name).toBe('redis_full');
      expect(res.retryAfter, name).toBe('30');
      expect(await read(), `${name} changed nothing`).toEqual(before);
    } else {
      expect(await read(), `${name} was done`).toEqual(after);
    }
    return res.status;
  }

  it('should answer 503 redis_full on every write path, keep serving reads, free memory on deletes, and leave nothing half-written', async () => {
    const refusal = await fill(client);
    expect(refusal.message).toMatch(/^OOM command not allowed/);
    const keysBefore = await stack.listQueueKeys();
    const uploadsBefore = await stack.listUploadFiles();

    // Upload: 503 with Retry-After, nothing kept (the MULTI that writes the records is refused
    // whole, as EXECABORT with the OOM among its earlier replies).
    const started = Date.now();
    const upload = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('no room'), 'a.txt');
    const uploadMs = Date.now() - started;
    expect(upload.status, JSON.stringify(upload.body)).toBe(503);
    expect(upload.body.error.code).toBe('redis_full');
    expect(upload.headers['retry-after']).toBe('30');
    const keyed = await request(stack.app)
      .post('/api/v1/files')
      .set('Idempotency-Key', 'full-1')
      .attach('file', Buffer.from('no room'), 'b.txt');
    expect(keyed.status).toBe(503);
    expect(keyed.body.error.code).toBe('redis_full');
    await stack.context.settler.idle();
    expect(await stack.listUploadFiles()).toEqual(uploadsBefore);
    // A settlement's decision marker (expires within the hour) is all that may remain.
    expect((await stack.listQueueKeys()).filter((k) => !k.includes(':qscale:settle:'))).toEqual(
      keysBefore,
    );
    console.info(`full Redis: the upload was answered 503 redis_full in ${uploadMs} ms`);

    // Reads go on: the list, a record, its chunks (read by a script: Redis 7 refuses a MULTI's
    // reads too), search.
    expect((await request(stack.app).get('/api/v1/files')).status).toBe(200);
    expect((await request(stack.app).get(`/api/v1/files/${files[0]}`)).body.status).toBe(
      'completed',
    );
    const chunks = await request(stack.app).get(`/api/v1/files/${files[0]}/chunks`);
    expect(chunks.status, JSON.stringify(chunks.body)).toBe(200);
    expect(chunks.body.chunks[0].text).toContain('Lighthouse number 0');
    const found = await request(stack.app).post('/api/v1/search').send({ query: 'lighthouse' });
    expect(found.status).toBe(200);

    // Delete frees memory, so it works on a full Redis: the file goes whole.
    const deleted = await request(stack.app).delete(`/api/v1/files/${files[0]}`);
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    expect(await stack.context.records.get(files[0]!)).toBeUndefined();
    expect((await stack.listQueueKeys()).filter((k) => k.includes(files[0]!))).toEqual([]);
    expect(await stack.context.records.listIds()).not.toContain(files[0]);
    expect(await stack.listUploadFiles()).not.toContain(join(stack.uploadDir, 'blobs', files[0]!));

    // Retention too: its lock cannot be stored, so it runs without it (deleting frees memory).
    const retention = new RetentionSweeper(stack.context, {
      maxFiles: 2,
      completedJobMaxAgeMs: 1,
    });
    const report = await retention.sweepIfFirst();
    expect(report?.files).toBe(2);
    expect(await stack.context.records.count()).toBe(2);
    expect((await readdir(join(stack.uploadDir, 'blobs'))).sort()).toEqual(
      (await stack.context.records.listIds()).sort(),
    );
    await retention.close();
    // The sweep of leftovers runs as well (what it cannot record waits for the next one).
    const sweeper = new UploadSweeper(stack.context, { graceMs: 3600_000, intervalMs: 600_000 });
    await expect(sweeper.sweepIfFirst()).resolves.toMatchObject({ partialFiles: 0 });
    await sweeper.close();

    // Console actions: each is done, or answered 503 redis_full with nothing changed — never 500.
    const detail = await act('GET', `/jobs/${encodeURIComponent(jobs.failedA!)}`);
    expect(detail.status, JSON.stringify(detail.body)).toBe(200);
    expect(detail.body.job.state).toBe('failed');
    const outcomes: Record<string, number> = {};
    outcomes['retry'] = await expectDoneOrRefused(
      'retry',
      () => act('POST', `/jobs/${jobs.failedA}/retry`),
      () => stateOf(jobs.failedA!),
      'waiting',
    );
    outcomes['promote'] = await expectDoneOrRefused(
      'promote',
      () => act('POST', `/jobs/${jobs.delayed}/promote`),
      () => stateOf(jobs.delayed!),
      'waiting',
    );
    outcomes['remove'] = await expectDoneOrRefused(
      'remove',
      () => act('DELETE', `/jobs/${jobs.done}`),
      () => stateOf(jobs.done!),
      'removed',
    );
    outcomes['clean'] = await expectDoneOrRefused(
      'clean',
      () => act('POST', '/clean', { state: 'completed', olderThanSeconds: 0 }),
      () => stateOf(jobs.done2!),
      'removed',
    );
    outcomes['retry-failed'] = await expectDoneOrRefused(
      'retry-failed',
      () => act('POST', '/retry-failed'),
      () => stateOf(jobs.failedB!),
      'waiting',
    );
    outcomes['pause'] = await expectDoneOrRefused(
      'pause',
      () => act('POST', '/pause'),
      () => other.queue.isPaused(),
      true,
    );
    outcomes['resume'] = await expectDoneOrRefused(
      'resume',
      () => act('POST', '/resume'),
      () => other.queue.isPaused(),
      false,
    );
    outcomes['ack-failures'] = await expectDoneOrRefused(
      'ack-failures',
      () => act('POST', '/ack-failures'),
      () => client.keys(`bull:${otherName}:qscale:*`),
      [`bull:${otherName}:qscale:failures-acked`],
    );
    console.info(`full Redis: console actions answered ${JSON.stringify(outcomes)}`);

    // gRPC: KEDA's calls read, and reads work; an OOM reaching a call is UNAVAILABLE, saying so.
    const scaler = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
    try {
      const metrics = await scaler.getMetrics({ queue: stack.config.queue.name });
      expect(metrics.metricValues[0]!.metricValue).toBe(0);
    } finally {
      scaler.close();
    }
    const execabort = await client
      .multi()
      .set('filler:more', 'x')
      .exec()
      .catch((error: Error) => error);
    expect((execabort as Error).message).toMatch(/^EXECABORT/);
    expect(toGrpcError(execabort)).toEqual({
      code: status.UNAVAILABLE,
      details: expect.stringContaining('Redis is out of memory (maxmemory'),
    });

    // Room again: uploads are taken.
    await empty(client);
    const again = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('room again'), 'c.txt');
    expect(again.status).toBe(202);
  });

  it('should hold cold too: with no script loaded (as after a Redis restart), uploads get 503 and reads, deletes and console actions go on', async () => {
    await empty(client);
    await client.config('SET', 'maxmemory', '64mb');
    const delayed = (await other.queue.add('later-cold', {}, { delay: 3_600_000 })).id!;
    const [kept, toDelete] = await stack.context.records.listIds();
    // Every script call now goes NOSCRIPT, then EVAL with the whole script, on a full Redis.
    await client.script('FLUSH');
    await fill(client);

    const upload = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('no room, cold'), 'cold.txt');
    expect(upload.status, JSON.stringify(upload.body)).toBe(503);
    expect(upload.body.error.code).toBe('redis_full');
    expect((await request(stack.app).get(`/api/v1/files/${kept}/chunks`)).status).toBe(200);
    const deleted = await request(stack.app).delete(`/api/v1/files/${toDelete}`);
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    expect(await stack.context.records.get(toDelete!)).toBeUndefined();
    const retention = new RetentionSweeper(stack.context, { maxFiles: 1 });
    await expect(retention.sweepIfFirst()).resolves.toBeDefined();
    await retention.close();
    expect((await act('GET', `/jobs/${delayed}`)).status).toBe(200);
    await expectDoneOrRefused(
      'promote (cold)',
      () => act('POST', `/jobs/${delayed}/promote`),
      () => stateOf(delayed),
      'waiting',
    );
    await expectDoneOrRefused(
      'pause (cold)',
      () => act('POST', '/pause'),
      () => other.queue.isPaused(),
      true,
    );
    await empty(client);
  });

  it('should read an OOM in every form Redis gives it — plain, pipeline, MULTI (EXECABORT), script — as redis_full', async () => {
    await client.config('SET', 'maxmemory', '64mb');
    await fill(client);
    try {
      const plain = await client.set('filler:x', 'x').catch((error: Error) => error);
      const piped = (await client.pipeline().set('filler:y', 'y').exec())?.[0]?.[0];
      const multi = await client
        .multi()
        .get('filler:0')
        .exec()
        .catch((error: Error) => error);
      const script = await client
        .eval("return redis.call('SET', KEYS[1], 'z')", 1, 'filler:z')
        .catch((error: Error) => error);
      const forms = { plain, piped, multi, script };
      // A MULTI says only EXECABORT; the OOM is among its previous errors.
      expect((multi as Error).message).toMatch(/^EXECABORT/);
      for (const [form, error] of Object.entries(forms)) {
        expect(error, form).toBeInstanceOf(Error);
        const response = errorResponse(error);
        expect(response.status, form).toBe(503);
        expect((response.body as Json).error.code, form).toBe('redis_full');
        expect(response.headers?.['Retry-After'], form).toBe('30');
        // Wrapped, as libraries do, it is still recognised.
        expect(errorResponse(new Error('upload failed', { cause: error })).status, form).toBe(503);
      }
    } finally {
      await empty(client);
    }
  });
});
