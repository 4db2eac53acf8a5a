import { networkInterfaces } from 'node:os';
import { Writable } from 'node:stream';
import { request } from 'node:http';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { runExporter } from '../src/cli/run-exporter.js';
import { runDoctor } from '../src/doctor/doctor.js';
import { redisPerFile } from '../harness/redis-per-file.js';
import { startRedisServer } from '../harness/redis-server.js';
import { openTestQueue, uniqueQueueName } from '../harness/test-queue.js';
import supertest from 'supertest';
import { runCli } from '../harness/cli-process.js';
import { FakeEmbeddingServer } from '../harness/fake-embedding-server.js';
import { rqEnqueue, RqWorker } from '../harness/rq.js';
import { createTestStack, testEnv } from '../harness/stack.js';

/** Response bodies, read loosely: each test asserts on the shape it needs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The first IPv4 address of this machine that is not loopback, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address;
    }
  }
  return undefined;
}

describe('Operator console API', () => {
  const server = redisPerFile();
  const { cleanups } = server;

  /** A sidecar watching `queue`, its log lines kept (the audit trail is asserted on). */
  async function sidecarFor(queues: string[], env: Env = {}) {
    const config = loadConfig(
      await testEnv(server.redis, {
        QUEUE_NAME: queues[0]!.replace(/^rq:/, ''),
        QUEUES: queues.join(','),
        HOST: '0.0.0.0',
        SAMPLE_TTL_MS: '0',
        ...env,
      }),
    );
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    const exporter = await runExporter(config, logger);
    cleanups.push(() => exporter.close());
    const base = `http://127.0.0.1:${exporter.port}`;
    return { exporter, base, lines };
  }

  function newQueue(name: string, prefix = 'bull') {
    const { queue, close } = openTestQueue(server.redis, name, prefix);
    cleanups.push(close);
    return queue;
  }

  /** A real worker: jobs whose data has `fail` fail (once per attempt) until `failing` is false. */
  function worker(name: string, options: { failing: { value: boolean }; prefix?: string }) {
    const w = new Worker(
      name,
      async (job: Job) => {
        if ((job.data as { fail?: boolean }).fail && options.failing.value) {
          throw new Error(`cannot read ${(job.data as { fileName: string }).fileName}`);
        }
        await job.log('processed');
        return { chunks: 3 };
      },
      {
        connection: new Redis(server.redis.port, '127.0.0.1', { maxRetriesPerRequest: null }),
        prefix: options.prefix ?? 'bull',
      },
    );
    w.on('error', () => undefined);
    cleanups.push(() => w.close());
    return w;
  }

  const until = <T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000) =>
    vi.waitFor(
      async () => {
        const value = await read();
        if (!ok(value)) throw new Error(`not yet; last value ${JSON.stringify(value)}`);
        return value;
      },
      { timeout: timeoutMs, interval: 50 },
    );

  const getJson = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { headers });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const act = async (
    url: string,
    init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const res = await fetch(url, {
      method: init.method ?? 'POST',
      headers: { 'Content-Type': 'application/json', ...init.headers },
      ...(init.method !== 'DELETE' && { body: JSON.stringify(init.body ?? {}) }),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };

  it('should list, search, page, show and act on the jobs of a BullMQ queue it watches', async () => {
    const name = uniqueQueueName('console');
    const queue = newQueue(name);
    const failing = { value: true };
    const w = worker(name, { failing });
    const names = ['report-a.pdf', 'report-b.pdf', 'invoice.docx'];
    const failed = await Promise.all(
      names.map((fileName) => queue.add('file', { fileName, fail: true }, { attempts: 1 })),
    );
    const done = await queue.add('file', { fileName: 'ok.txt' });
    const delayed = await queue.add('file', { fileName: 'later.txt' }, { delay: 3_600_000 });
    await until(
      () => queue.getJobCounts('failed', 'completed'),
      (c) => c.failed === 3 && c.completed === 1,
    );
    const { base, lines } = await sidecarFor([name]);
    const jobsUrl = `${base}/api/v1/queues/${name}/jobs`;

    const queues = await getJson(`${base}/api/v1/queues`);
    expect(queues.status).toBe(200);
    expect(queues.body.queues).toEqual([
      expect.objectContaining({ name, kind: 'bullmq', paused: false }),
    ]);
    expect(queues.body.permission).toEqual({ allowed: true, needsToken: false, reason: null });

    // Newest first, paged.
    const first = await getJson(`${jobsUrl}?state=failed&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(3);
    expect(first.body.jobs.map((j: { fileName: string }) => j.fileName)).toEqual([
      'invoice.docx',
      'report-b.pdf',
    ]);
    const second = await getJson(`${jobsUrl}?state=failed&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.jobs.map((j: { fileName: string }) => j.fileName)).toEqual(['report-a.pdf']);
    expect(second.body.nextCursor).toBeNull();
    // Search by file name (case-insensitive) and by id.
    const found = await getJson(`${jobsUrl}?state=failed&search=REPORT`);
    expect(found.body.jobs).toHaveLength(2);
    const byId = await getJson(`${jobsUrl}?state=failed&search=${failed[2]!.id}`);
    expect(byId.body.jobs.map((j: { id: string }) => j.id)).toEqual([failed[2]!.id]);

    // Detail: the error, its stack, data, options and what can be done.
    const detail = await getJson(`${jobsUrl}/${failed[0]!.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.job).toMatchObject({
      id: failed[0]!.id,
      state: 'failed',
      fileName: 'report-a.pdf',
      error: 'cannot read report-a.pdf',
      attemptsMade: 1,
      actions: ['retry', 'remove'],
    });
    expect(detail.body.job.stacktrace[0]).toContain('Error: cannot read report-a.pdf');
    expect(JSON.parse(detail.body.job.data)).toEqual({ fileName: 'report-a.pdf', fail: true });
    const completed = await getJson(`${jobsUrl}/${done.id}`);
    expect(completed.body.job).toMatchObject({ state: 'completed', logs: ['processed'] });
    expect(JSON.parse(completed.body.job.result)).toEqual({ chunks: 3 });

    // Retry: the job runs again and completes.
    failing.value = false;
    const retried = await act(`${jobsUrl}/${failed[0]!.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ action: 'retry', id: failed[0]!.id });
    await until(
      async () => (await getJson(`${jobsUrl}/${failed[0]!.id}`)).body.job.state,
      (state) => state === 'completed',
    );
    // A race: two operators retry the same failed job at once; one wins, the other is told.
    await w.pause();
    const race = await Promise.all([
      act(`${jobsUrl}/${failed[1]!.id}/retry`),
      act(`${jobsUrl}/${failed[1]!.id}/retry`),
    ]);
    expect(race.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(race.find((r) => r.status === 409)!.body.error.code).toBe('job_state_conflict');
    // Only a delayed job can be promoted; promoting one makes it waiting.
    const notDelayed = await act(`${jobsUrl}/${failed[2]!.id}/promote`);
    expect(notDelayed.status).toBe(409);
    expect(notDelayed.body.error.message).toMatch(/is failed; only delayed jobs can be promoted/);
    const promoted = await act(`${jobsUrl}/${delayed.id}/promote`);
    expect(promoted.body).toMatchObject({ state: 'waiting' });
    // Remove.
    const removed = await act(`${jobsUrl}/${failed[2]!.id}`, { method: 'DELETE' });
    expect(removed.status).toBe(200);
    expect((await getJson(`${jobsUrl}/${failed[2]!.id}`)).status).toBe(404);

    // Pause and resume the queue.
    expect((await act(`${base}/api/v1/queues/${name}/pause`)).body.paused).toBe(true);
    expect(await queue.isPaused()).toBe(true);
    expect((await act(`${base}/api/v1/queues/${name}/resume`)).body.paused).toBe(false);
    expect(await queue.isPaused()).toBe(false);

    // Clean completed jobs older than 0 s.
    const completedBefore = await queue.getCompletedCount();
    expect(completedBefore).toBeGreaterThanOrEqual(2);
    const cleaned = await act(`${base}/api/v1/queues/${name}/clean`, {
      body: { state: 'completed', olderThanSeconds: 0 },
    });
    expect(cleaned.status).toBe(200);
    expect(cleaned.body.count).toBe(completedBefore);
    expect(await queue.getCompletedCount()).toBe(0);

    // Every action is in the audit log: what, on which job, by whom, from where, the outcome.
    const audit = lines.flatMap((line) =>
      line.audit ? [line.audit as Record<string, unknown>] : [],
    );
    expect(audit).toContainEqual(
      expect.objectContaining({
        action: 'retry',
        queue: name,
        job: failed[0]!.id,
        by: 'loopback',
        from: '127.0.0.1',
        outcome: 'done',
      }),
    );
    expect(audit.filter((entry) => entry.outcome === 'refused').length).toBeGreaterThanOrEqual(2);
    expect(audit.map((entry) => entry.action)).toEqual(
      expect.arrayContaining(['retry', 'promote', 'remove', 'pause', 'resume', 'clean']),
    );
  });

  it('should retry every failed job at once', async () => {
    const name = uniqueQueueName('console');
    const queue = newQueue(name);
    const failing = { value: true };
    worker(name, { failing });
    await Promise.all(
      [1, 2, 3, 4].map((n) => queue.add('file', { fileName: `${n}.txt`, fail: true })),
    );
    await until(
      () => queue.getFailedCount(),
      (n) => n === 4,
    );
    const { base } = await sidecarFor([name]);
    failing.value = false;
    const all = await act(`${base}/api/v1/queues/${name}/retry-failed`);
    expect(all.body).toMatchObject({ action: 'retry-failed', count: 4 });
    await until(
      () => queue.getCompletedCount(),
      (n) => n === 4,
    );
  });

  it('should retry a failed file job to completed: the upload API, worker and records agree', async () => {
    const embeddings = await new FakeEmbeddingServer().start();
    cleanups.push(() => embeddings.stop());
    embeddings.hold(); // the embedding service hangs: the job times out and fails
    const stack = await createTestStack(server.redis, {
      EMBEDDING_PROVIDER: 'openai',
      EMBEDDING_URL: embeddings.url,
      EMBEDDING_TIMEOUT_MS: '200',
      EMBEDDING_MAX_RETRIES: '0',
      JOB_ATTEMPTS: '1',
    });
    cleanups.push(() => stack.close());
    const upload = await supertest(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('a file worth keeping. '.repeat(20)), 'notes.txt');
    expect(upload.status).toBe(202);
    const id = upload.body.id as string;
    expect((await stack.waitForStatus(id, 'failed', 20_000)).error).toMatch(/embedding/i);

    embeddings.release();
    const { base } = await sidecarFor([stack.config.queue.name]);
    const listed = await getJson(
      `${base}/api/v1/queues/${stack.config.queue.name}/jobs?state=failed`,
    );
    expect(listed.body.jobs).toEqual([expect.objectContaining({ id, fileName: 'notes.txt' })]);
    const retried = await act(`${base}/api/v1/queues/${stack.config.queue.name}/jobs/${id}/retry`);
    expect(retried.status).toBe(200);
    const record = await stack.waitForStatus(id, 'completed', 20_000);
    expect(record.chunks).toBeGreaterThan(0);
    const chunks = await supertest(stack.app).get(`/api/v1/files/${id}/chunks`);
    expect(chunks.status).toBe(200);
  });

  it('should let doctor warn only about failures nobody acknowledged', async () => {
    const name = uniqueQueueName('console');
    const queue = newQueue(name);
    worker(name, { failing: { value: true } });
    await Promise.all([1, 2].map((n) => queue.add('file', { fileName: `${n}.txt`, fail: true })));
    await until(
      () => queue.getFailedCount(),
      (n) => n === 2,
    );
    const { base } = await sidecarFor([name]);
    const config = loadConfig(await testEnv(server.redis, { QUEUE_NAME: name }));
    const failures = async () =>
      (await runDoctor(config)).checks.find((check) => check.name === 'failures (last hour)')!;
    expect(await failures()).toMatchObject({ status: 'WARN' });
    expect((await failures()).found).toContain('2 jobs failed in the last hour');

    const ack = await act(`${base}/api/v1/queues/${name}/ack-failures`);
    expect(ack.status).toBe(200);
    expect(ack.body.acknowledgedAt).toBeGreaterThan(Date.now() - 10_000);
    expect(await failures()).toMatchObject({ status: 'OK' });
    // Still there to inspect.
    expect((await getJson(`${base}/api/v1/queues/${name}/jobs?state=failed`)).body.total).toBe(2);
    // A new failure warns again, alone.
    await queue.add('file', { fileName: '3.txt', fail: true });
    await until(
      () => queue.getFailedCount(),
      (n) => n === 3,
    );
    expect((await failures()).found).toContain('1 jobs failed in the last hour');
  });

  it('should answer bad input with 400/404 naming what is allowed, changing nothing', async () => {
    const name = uniqueQueueName('console');
    const queue = newQueue(name);
    await queue.add('file', { fileName: 'a.txt' });
    const { base } = await sidecarFor([name]);
    const jobsUrl = `${base}/api/v1/queues/${name}/jobs`;

    const badState = await getJson(`${jobsUrl}?state=dead`);
    expect(badState.status).toBe(400);
    expect(badState.body.error.message).toMatch(/"state" must be one of waiting, prioritized/);
    for (const query of [
      'limit=0',
      'limit=101',
      'limit=x',
      'cursor=-1',
      `search=${'x'.repeat(201)}`,
    ]) {
      const res = await getJson(`${jobsUrl}?${query}`);
      expect(res.status, query).toBe(400);
    }
    const unknownQueue = await getJson(`${base}/api/v1/queues/nope/jobs`);
    expect(unknownQueue.status).toBe(404);
    expect(unknownQueue.body.error.message).toContain(`watched: ${name}`);
    expect((await getJson(`${jobsUrl}/no-such-job`)).status).toBe(404);
    // Any id BullMQ takes is looked up (`order 123` is one); an overlong one is refused.
    expect((await getJson(`${jobsUrl}/${encodeURIComponent('no such job')}`)).status).toBe(404);
    expect((await getJson(`${jobsUrl}/${'x'.repeat(1025)}`)).status).toBe(400);
    expect((await act(`${jobsUrl}/no-such-job/retry`)).status).toBe(404);
    // Ids that name BullMQ's own keys of the queue are no jobs: nothing is read as one or removed.
    await queue.pause();
    await queue.resume();
    const client = server.redis.client();
    cleanups.push(async () => client.disconnect());
    const metaBefore = await client.hgetall(`bull:${name}:meta`);
    expect(Object.keys(metaBefore).length).toBeGreaterThan(0);
    for (const id of ['meta', 'events', 'id', 'wait', 'qscale:files', 'marker']) {
      expect((await getJson(`${jobsUrl}/${encodeURIComponent(id)}`)).status, id).toBe(404);
      const removal = await act(`${jobsUrl}/${encodeURIComponent(id)}`, { method: 'DELETE' });
      expect(removal.status, id).toBe(404);
    }
    expect(await client.hgetall(`bull:${name}:meta`)).toEqual(metaBefore);
    const waiting = (await queue.getWaiting())[0]!;
    const notFailed = await act(`${jobsUrl}/${waiting.id}/retry`);
    expect(notFailed.status).toBe(409);
    expect(notFailed.body.error.message).toMatch(/is waiting; only failed or completed/);
    const badClean = await act(`${base}/api/v1/queues/${name}/clean`, {
      body: { state: 'active', olderThanSeconds: 0 },
    });
    expect(badClean.status).toBe(400);
    expect(badClean.body.error.message).toMatch(/cleaned of completed, failed, delayed/);
    const noAge = await act(`${base}/api/v1/queues/${name}/clean`, { body: { state: 'waiting' } });
    expect(noAge.status).toBe(400);
    expect(noAge.body.error.message).toMatch(/olderThanSeconds.*required/);
    const notJson = await fetch(`${base}/api/v1/queues/${name}/clean`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"state":',
    });
    expect(notJson.status).toBe(400);
    expect(await queue.getWaitingCount()).toBe(1);
  });

  it('should answer within the deadline while Redis is frozen, without claiming an action was not applied', async () => {
    const frozen = await startRedisServer();
    cleanups.push(() => frozen.stop());
    const name = uniqueQueueName('console');
    const config = loadConfig(
      await testEnv(frozen, {
        QUEUE_NAME: name,
        HOST: '127.0.0.1',
        REDIS_TIMEOUT_MS: '1000',
        HISTORY: 'off',
      }),
    );
    const exporter = await runExporter(config, pino({ level: 'silent' }));
    cleanups.push(() => exporter.close());
    const base = `http://127.0.0.1:${exporter.port}/api/v1/queues`;
    frozen.freeze();
    try {
      const started = Date.now();
      const queues = await getJson(base);
      expect(queues).toMatchObject({ status: 200, body: { redisUp: false } });
      const list = await getJson(`${base}/${name}/jobs`);
      expect(list.status).toBe(503);
      const pause = await act(`${base}/${name}/pause`);
      expect(pause.status).toBe(503);
      expect(pause.body.error.message).toMatch(/may or may not have been applied/);
      expect(Date.now() - started).toBeLessThan(3 * 1000 + 1500);
    } finally {
      frozen.thaw();
    }
    // Whether the PAUSE ran once Redis woke up depends on what was still in flight (seen both
    // ways): the answer said so, and a reload shows what is true.
    const client = frozen.client();
    cleanups.push(async () => client.disconnect());
    await sleep(500);
    const truth = (await client.hexists(`bull:${name}:meta`, 'paused')) === 1;
    const after = await until(
      () => getJson(base),
      (res) => res.body.redisUp === true,
    );
    expect(after.body.queues[0].paused).toBe(truth);
  });

  it('should refuse actions sent across origins (CSRF) and through other hosts', async () => {
    const name = uniqueQueueName('console');
    const queue = newQueue(name);
    const { base, exporter } = await sidecarFor([name]);
    const pause = `${base}/api/v1/queues/${name}/pause`;
    const refused = [
      // An HTML form: no JSON content type.
      await fetch(pause, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'a=1',
      }),
      await fetch(pause, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' }),
      await fetch(pause, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: 'https://evil.example' },
        body: '{}',
      }),
      await fetch(pause, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' },
        body: '{}',
      }),
      // Through a proxy: not the loopback user it looks like.
      await fetch(pause, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': '203.0.113.9' },
        body: '{}',
      }),
    ];
    // DNS rebinding: a page whose name now points at 127.0.0.1 sends its own name as Host (fetch
    // cannot set Host, so a plain http.request does).
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(
        pause,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Host: `evil.example:${exporter.port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect([...refused.map((res) => res.status), rebound]).toEqual([415, 415, 403, 403, 403, 403]);
    expect(await queue.isPaused()).toBe(false);
    // The same page's own request is accepted.
    const own = await fetch(pause, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Origin: base,
        'Sec-Fetch-Site': 'same-origin',
      },
      body: '{}',
    });
    expect(own.status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
  });

  it('should be read-only off loopback without ACTION_TOKEN, and act with the token', async () => {
    const address = externalAddress();
    const name = uniqueQueueName('console');
    const queue = newQueue(name);
    const open = await sidecarFor([name]);
    if (address !== undefined) {
      const remote = `http://${address}:${open.exporter.port}/api/v1/queues`;
      const read = await getJson(remote);
      expect(read.status).toBe(200);
      expect(read.body.permission.allowed).toBe(false);
      expect(read.body.permission.reason).toMatch(/ACTION_TOKEN/);
      const denied = await act(`${remote}/${name}/pause`);
      expect(denied.status).toBe(403);
      expect(denied.body.error.code).toBe('read_only');
    }

    const token = 'action-token-0123456789';
    const guarded = await sidecarFor([name], { ACTION_TOKEN: token });
    const pause = `${guarded.base}/api/v1/queues/${name}/pause`;
    expect((await getJson(`${guarded.base}/api/v1/queues`)).body.permission).toMatchObject({
      allowed: false,
      needsToken: true,
    });
    expect((await act(pause)).status).toBe(401);
    expect(
      (await act(pause, { headers: { Authorization: 'Bearer wrong-token-0123456789' } })).status,
    ).toBe(401);
    expect(await queue.isPaused()).toBe(false);
    // The scheme in any case (RFC 7235).
    const ok = await act(pause, { headers: { Authorization: `bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    const audit = guarded.lines.flatMap((l) =>
      l.audit ? [l.audit as Record<string, unknown>] : [],
    );
    expect(audit.filter((a) => a.outcome === 'denied')).toHaveLength(2);
    expect(audit).toContainEqual(expect.objectContaining({ action: 'pause', by: 'action-token' }));
  });

  it('should keep reads behind METRICS_AUTH', async () => {
    const name = uniqueQueueName('console');
    newQueue(name);
    const { base } = await sidecarFor([name], { METRICS_AUTH: 'basic:ops:secret-pass' });
    expect((await getJson(`${base}/api/v1/queues`)).status).toBe(401);
    const basic = `Basic ${Buffer.from('ops:secret-pass').toString('base64')}`;
    expect((await getJson(`${base}/api/v1/queues`, { Authorization: basic })).status).toBe(200);
    // Loopback without ACTION_TOKEN: acting needs the read credentials too.
    expect((await act(`${base}/api/v1/queues/${name}/pause`)).status).toBe(401);
    expect(
      (await act(`${base}/api/v1/queues/${name}/pause`, { headers: { Authorization: basic } }))
        .status,
    ).toBe(200);
  });

  it('should list, show, retry and remove the jobs of a Python RQ queue', async () => {
    const name = uniqueQueueName('rqconsole');
    await rqEnqueue(server.redis.port, name, [
      { fn: 'fail', args: ['bad input 1'] },
      { fn: 'fail', args: ['bad input 2'] },
      { fn: 'work', args: [0] },
    ]);
    const rq = new RqWorker(server.redis.port, [name], `w-${name}`, ['--burst']);
    await rq.exited;
    const { base } = await sidecarFor([`rq:${name}`]);
    const jobsUrl = `${base}/api/v1/queues/${name}/jobs`;
    const failed = await getJson(`${jobsUrl}?state=failed`);
    expect(failed.status).toBe(200);
    expect(failed.body.total).toBe(2);
    expect(failed.body.jobs[0]).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/^ValueError: bad input/),
      name: expect.stringContaining('qscale_rq_jobs.fail'),
    });
    const finished = await getJson(`${jobsUrl}?state=finished`);
    expect(finished.body.total).toBe(1);
    const id = failed.body.jobs[0].id as string;
    const detail = await getJson(`${jobsUrl}/${id}`);
    expect(detail.body.job.stacktrace[0]).toContain('Traceback');
    expect(detail.body.job.actions).toEqual(['retry', 'remove']);
    const search = await getJson(
      `${jobsUrl}?state=failed&search=${encodeURIComponent("'bad input 2'")}`,
    );
    expect(search.body.jobs).toHaveLength(1);

    expect((await act(`${jobsUrl}/${id}/retry`)).status).toBe(200);
    expect((await act(`${jobsUrl}/${id}/retry`)).status).toBe(409);
    const queued = await getJson(`${jobsUrl}?state=queued`);
    expect(queued.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
    // RQ's own worker runs the requeued job (and it fails again: same input).
    const again = new RqWorker(server.redis.port, [name], `w2-${name}`, ['--burst']);
    await again.exited;
    expect((await getJson(`${jobsUrl}/${id}`)).body.job.state).toBe('failed');

    const other = failed.body.jobs[1].id as string;
    expect((await act(`${jobsUrl}/${other}`, { method: 'DELETE' })).status).toBe(200);
    expect((await getJson(`${jobsUrl}/${other}`)).status).toBe(404);
    expect((await getJson(`${jobsUrl}?state=failed`)).body.total).toBe(1);
    const pause = await act(`${base}/api/v1/queues/${name}/pause`);
    expect(pause.status).toBe(400);
    expect(pause.body.error.message).toMatch(/RQ queues do not support "pause"/);
    const cleaned = await act(`${base}/api/v1/queues/${name}/clean`, {
      body: { state: 'finished', olderThanSeconds: 0 },
    });
    expect(cleaned.body.count).toBe(1);
    expect((await getJson(`${jobsUrl}?state=finished`)).body.total).toBe(0);
  });

  it('should list, show and act on any job id BullMQ takes (spaces, slashes, %), URL-encoded by the page and the CLI', async () => {
    const name = uniqueQueueName('console');
    const queue = newQueue(name);
    const failing = { value: true };
    const w = worker(name, { failing });
    const ids = ['order 123', 'a/b?c#d', '100%', 'ünï côde'];
    for (const jobId of ids) {
      await queue.add('file', { fileName: `${jobId}.txt`, fail: true }, { jobId, attempts: 1 });
    }
    await queue.add('file', { fileName: 'later.txt' }, { jobId: 'later 1', delay: 3_600_000 });
    await until(
      () => queue.getFailedCount(),
      (n) => n === ids.length,
    );
    await w.pause();
    const { base } = await sidecarFor([name]);
    const jobsUrl = `${base}/api/v1/queues/${name}/jobs`;
    const jobUrl = (id: string) => `${jobsUrl}/${encodeURIComponent(id)}`;

    const listed = await getJson(`${jobsUrl}?state=failed`);
    expect(listed.body.jobs.map((j: { id: string }) => j.id).sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const detail = await getJson(jobUrl(id));
      expect(detail.status, id).toBe(200);
      expect(detail.body.job).toMatchObject({ id, state: 'failed', actions: ['retry', 'remove'] });
    }
    failing.value = false;
    w.resume();
    const retried = await act(`${jobUrl('order 123')}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({ action: 'retry', id: 'order 123' });
    await until(
      async () => (await queue.getJob('order 123'))?.finishedOn !== undefined,
      (done) => done,
    );
    const removed = await act(jobUrl('a/b?c#d'), { method: 'DELETE' });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(await queue.getJob('a/b?c#d')).toBeUndefined();
    const promoted = await act(`${jobUrl('later 1')}/promote`);
    expect(promoted.status, JSON.stringify(promoted.body)).toBe(200);

    // The CLI encodes them too.
    const env = { QSCALE_URL: base, LOG_LEVEL: 'silent' };
    const show = await runCli(['jobs', 'show', '100%'], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`job 100% in ${name}: failed`);
    const retry = await runCli(['jobs', 'retry', 'ünï côde'], env);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout).toContain('retried ünï côde');
    // Only an empty or overlong id is refused.
    const long = await getJson(jobUrl('x'.repeat(1025)));
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe('invalid_job_id');
  });

  it('should do the same from the terminal: qscale jobs list|show|retry|pause|resume|clean', async () => {
    const name = uniqueQueueName('console');
    const queue = newQueue(name);
    const failing = { value: true };
    const w = worker(name, { failing });
    const jobs = await Promise.all(
      ['scan-1.pdf', 'scan-2.pdf'].map((fileName) =>
        queue.add('file', { fileName, fail: true }, { attempts: 1 }),
      ),
    );
    await until(
      () => queue.getFailedCount(),
      (n) => n === 2,
    );
    const { base } = await sidecarFor([name]);
    const env = { QSCALE_URL: base, LOG_LEVEL: 'silent' };

    const list = await runCli(['jobs', 'list', '--state', 'failed'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(`${name}: 2 failed jobs`);
    expect(list.stdout).toMatch(/scan-2\.pdf.*cannot read scan-2\.pdf/);
    const page = await runCli(['jobs', 'list', '--limit', '1', '--json'], env);
    expect(JSON.parse(page.stdout)).toMatchObject({ total: 2, nextCursor: '1' });

    const show = await runCli(['jobs', 'show', jobs[0]!.id!], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`job ${jobs[0]!.id} in ${name}: failed`);
    expect(show.stdout).toContain('stack trace (last attempt):');

    failing.value = false;
    const retry = await runCli(['jobs', 'retry', jobs[0]!.id!, 'no-such-job'], env);
    expect(retry.code).toBe(1);
    expect(retry.stdout).toContain(`retried ${jobs[0]!.id}`);
    expect(retry.stderr).toContain('no-such-job: No job "no-such-job"');
    await until(
      () => queue.getCompletedCount(),
      (n) => n === 1,
    );

    await w.close();
    expect((await runCli(['jobs', 'pause'], env)).stdout).toContain(`${name}: paused`);
    expect(await queue.isPaused()).toBe(true);
    expect((await runCli(['jobs', 'resume'], env)).stdout).toContain(`${name}: running`);
    const ack = await runCli(['jobs', 'ack-failures'], env);
    expect(ack.stdout).toMatch(new RegExp(`${name}: failures up to \\S+ acknowledged`));
    const clean = await runCli(['jobs', 'clean', '--state', 'completed', '--older-than', '0'], env);
    expect(clean.stdout).toContain(`${name}: removed 1 completed job`);

    const token = 'cli-action-token-0123456';
    const guarded = await sidecarFor([name], { ACTION_TOKEN: token });
    const refused = await runCli(['jobs', 'pause'], { ...env, QSCALE_URL: guarded.base });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Missing or wrong action token');
    const allowed = await runCli(['jobs', 'pause', '--token', token], {
      ...env,
      QSCALE_URL: guarded.base,
    });
    expect(allowed.code, allowed.stderr).toBe(0);
    const gone = await runCli(['jobs', 'list'], { ...env, QSCALE_URL: 'http://127.0.0.1:9' });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('cannot reach the sidecar at http://127.0.0.1:9');
  });
});
