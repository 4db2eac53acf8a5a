import { rm } from 'node:fs/promises';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RetentionSweeper, type RetentionSweeperOptions } from '../src/app/retention-sweeper.js';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runApp } from '../src/cli/run-app.js';
import { runExporter } from '../src/cli/run-exporter.js';
import { runWorker } from '../src/cli/run-worker.js';
import type { FileStatus } from '../src/pipeline/file-record.js';
import { scrapeMetrics, valueOf } from '../harness/prom-text.js';
import { redisPerFile } from '../harness/redis-per-file.js';
import { createTestStack, testEnv, type TestStack } from '../harness/stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const DAY = 86_400_000;

/** ~`bytes` of text, different for each `seed`. */
function text(seed: number, bytes: number): Buffer {
  const words: string[] = [];
  let length = 0;
  for (let i = 0; length < bytes; i++) {
    const word = `w${seed}x${(i * 7919) % 10_007}`;
    words.push(word);
    length += word.length + 1;
  }
  return Buffer.from(words.join(' '));
}

const waitFor = (what: string, check: () => Promise<boolean>, timeoutMs = 15_000) =>
  vi.waitFor(
    async () => {
      if (!(await check())) throw new Error(`${what}: not within ${timeoutMs} ms`);
    },
    { timeout: timeoutMs, interval: 50 },
  );

describe('Retention', () => {
  const server = redisPerFile();
  let stack: TestStack | undefined;

  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  /** `used_memory` of the test's own Redis after MEMORY PURGE. */
  async function usedMemory(): Promise<number> {
    const client = server.redis.client();
    try {
      await client.call('MEMORY', 'PURGE');
      return Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))![1]);
    } finally {
      client.disconnect();
    }
  }

  it('should delete old files whole and keep recent ones whole, with the blob total and Redis memory following', async () => {
    const config = loadConfig(
      await testEnv(server.redis, {
        PORT: '0',
        HOST: '127.0.0.1',
        FILE_RETENTION_SECONDS: '6',
        RETENTION_INTERVAL_SECONDS: '1',
        JOB_ATTEMPTS: '1',
      }),
    );
    const logger = createLogger(config, 'test');
    const admin = server.redis.client();
    // The test's own Redis: a limit to see maxmemory reported (far above what the test stores).
    await admin.config('SET', 'maxmemory', String(512 * 1024 * 1024));
    const app = await runApp(config, logger);
    const worker = await runWorker(config, logger);
    const exporter = await runExporter(config, logger);
    const { records, storage, queue, keys } = app.context;
    try {
      await queue.waitUntilReady();
      const upload = async (name: string, body: Buffer) => {
        const res = await request(app.url).post('/api/v1/files').attach('file', body, name);
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        return { id: res.body.id as string, size: body.length };
      };
      const finished = async (ids: string[]) =>
        waitFor('files finished', async () =>
          (await records.getMany(ids)).every(
            (r) => r?.status === 'completed' || r?.status === 'failed',
          ),
        );

      // One file through first, so that the baseline holds the scripts and connections a file's
      // trip loads once (this first file is among the old ones deleted).
      const old = [await upload('warm-up.txt', text(99, 40_000))];
      await finished(old.map((f) => f.id));
      await exporter.signals.read();
      const baseline = await usedMemory();
      for (let i = 0; i < 20; i++) old.push(await upload(`old-${i}.txt`, text(i, 40_000)));
      old.push(await upload('bad.json', Buffer.from('{"not json')));
      await finished(old.map((f) => f.id));
      expect((await records.get(old.at(-1)!.id))?.status).toBe('failed');
      const peak = await usedMemory();
      expect(await records.storedBlobBytes()).toBe(old.reduce((sum, f) => sum + f.size, 0));

      // Inside the window when the old files expire: uploaded 3.5 s after them.
      await sleep(3500);
      const recent = [];
      for (let i = 0; i < 3; i++) recent.push(await upload(`new-${i}.txt`, text(100 + i, 40_000)));
      await finished(recent.map((f) => f.id));

      await waitFor(
        'old files deleted',
        async () => (await records.existing(old.map((f) => f.id))).every((e) => !e),
        12_000,
      );

      // Old files: record, chunks, vectors, job and blob all gone (peeking at keys shows what the
      // API no longer lists is really freed; this Redis is the test's own).
      for (const { id } of old) {
        expect((await request(app.url).get(`/api/v1/files/${id}`)).status).toBe(404);
        expect(await admin.exists(keys.file(id), keys.chunks(id), keys.vectors(id))).toBe(0);
        expect(await queue.getJob(id)).toBeUndefined();
        expect(await storage.exists(id)).toBe(false);
      }
      expect(await records.listIds()).toEqual(expect.arrayContaining(recent.map((f) => f.id)));
      expect(await records.count()).toBe(recent.length);
      // Recent files: whole.
      for (const [i, { id, size }] of recent.entries()) {
        const file = await request(app.url).get(`/api/v1/files/${id}`);
        expect(file.body.status).toBe('completed');
        const chunks = await request(app.url).get(`/api/v1/files/${id}/chunks?limit=500`);
        expect(chunks.body.total).toBeGreaterThan(10);
        expect(chunks.body.chunks[0].text).toContain(`w${100 + i}x`);
        expect((await storage.read(id)).length).toBe(size);
        expect(await admin.exists(keys.vectors(id))).toBe(1);
      }
      const recentBytes = recent.reduce((sum, f) => sum + f.size, 0);
      expect(await records.storedBlobBytes()).toBe(recentBytes);

      // The sidecar reports the same, without the upload volume.
      const metrics = await scrapeMetrics(`${exporter.url}/metrics`);
      expect(valueOf(metrics, 'qscale_blob_storage_bytes', { queue: config.queue.name })).toBe(
        recentBytes,
      );
      expect(valueOf(metrics, 'qscale_redis_maxmemory_bytes')).toBe(512 * 1024 * 1024);
      expect(valueOf(metrics, 'qscale_redis_memory_used_bytes')).toBeGreaterThan(baseline / 2);
      const status = (await (await fetch(`${exporter.url}/api/status`)).json()) as {
        storage: { redisUsedBytes: number; redisMaxBytes: number; blobBytes: number };
      };
      expect(status.storage).toMatchObject({
        redisMaxBytes: 512 * 1024 * 1024,
        blobBytes: recentBytes,
      });
      expect(status.storage.redisUsedBytes).toBeGreaterThan(0);

      // Redis memory falls back: what is left over the baseline is about the 3 recent files less
      // the warm-up one (~110 KB each), out of the ~2.3 MB the 21 old ones took.
      const after = await usedMemory();
      const grown = peak - baseline;
      expect(grown).toBeGreaterThan(2_000_000);
      expect(after - baseline).toBeLessThan(0.2 * grown);
    } finally {
      await exporter.close();
      await worker.close();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await app.close();
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
      await rm(config.http.uploadDir, { recursive: true, force: true });
    }
  }, 30_000);

  /** Uploads files one by one (distinct upload times), and sets their statuses. */
  async function filesWith(s: TestStack, statuses: FileStatus[]) {
    const files: { id: string; size: number }[] = [];
    for (const [i, status] of statuses.entries()) {
      const body = Buffer.from(`file ${i} `.repeat(i + 1));
      const res = await request(s.app).post('/api/v1/files').attach('file', body, `f${i}.txt`);
      expect(res.status).toBe(202);
      const id = res.body.id as string;
      // No worker: the states a worker would write, set directly.
      if (status !== 'queued') {
        await s.context.records.update(id, {
          status,
          ...(status !== 'processing' && { finishedAt: Date.now() }),
        });
      }
      files.push({ id, size: body.length });
      await sleep(3);
    }
    return files;
  }

  const sweeperOf = (s: TestStack, options: RetentionSweeperOptions) =>
    new RetentionSweeper(s.context, { intervalMs: 60_000, ...options });

  it('should never delete queued or processing files, however old', async () => {
    stack = await createTestStack(server.redis, {}, { worker: false });
    const [queued, processing, completed, failed] = await filesWith(stack, [
      'queued',
      'processing',
      'completed',
      'failed',
    ]);
    const sweeper = sweeperOf(stack, { fileMaxAgeMs: 1000, maxFiles: 1 });
    const report = await sweeper.sweep(Date.now() + DAY);
    expect(report.files).toBe(2);
    const { records, storage } = stack.context;
    expect(await records.existing([queued!.id, processing!.id, completed!.id, failed!.id])).toEqual(
      [true, true, false, false],
    );
    expect(await storage.exists(queued!.id)).toBe(true);
    expect(await storage.exists(processing!.id)).toBe(true);
    expect(await storage.exists(completed!.id)).toBe(false);
    expect(await records.storedBlobBytes()).toBe(queued!.size + processing!.size);
    // Still there a day later: nothing more to delete.
    expect((await sweeper.sweep(Date.now() + 2 * DAY)).files).toBe(0);
  });

  it('should keep the newest MAX_FILES files and delete older finished ones, in bounded batches', async () => {
    stack = await createTestStack(server.redis, {}, { worker: false });
    const files = await filesWith(stack, [
      'queued',
      'completed',
      'failed',
      'completed',
      'completed',
      'completed',
    ]);
    const { records } = stack.context;
    const ids = files.map((f) => f.id);
    // No age limit: only the count; at most 1 file per sweep.
    const sweeper = sweeperOf(stack, { maxFiles: 2, batch: 1 });
    expect((await sweeper.sweep()).files).toBe(1);
    expect(await records.existing(ids)).toEqual([true, false, true, true, true, true]);
    expect((await sweeper.sweep()).files).toBe(1);
    expect((await sweeper.sweep()).files).toBe(1);
    // The oldest file is queued: kept, so the index holds one file more than MAX_FILES.
    expect((await sweeper.sweep()).files).toBe(0);
    expect(await records.existing(ids)).toEqual([true, false, false, false, true, true]);
    expect(await records.listIds()).toEqual([ids[0], ids[4], ids[5]]);
    expect(await records.storedBlobBytes()).toBe(files[0]!.size + files[4]!.size + files[5]!.size);
  });

  it('should count a file deleted by age from when it finished, not from its upload', async () => {
    stack = await createTestStack(server.redis, {}, { worker: false });
    const [file] = await filesWith(stack, ['queued']);
    const { records } = stack.context;
    const uploadedAt = (await records.get(file!.id))!.uploadedAt;
    await records.update(file!.id, { status: 'completed', finishedAt: uploadedAt + DAY });
    const sweeper = sweeperOf(stack, { fileMaxAgeMs: DAY });
    expect((await sweeper.sweep(uploadedAt + 1.5 * DAY)).files).toBe(0);
    expect((await sweeper.sweep(uploadedAt + 2.5 * DAY)).files).toBe(1);
  });

  it('should remove completed and failed jobs past their age when no later job finishes, keeping the files', async () => {
    stack = await createTestStack(server.redis, { JOB_ATTEMPTS: '1' });
    const ok = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('some text'), 'ok.txt');
    const bad = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('{"not json'), 'bad.json');
    await stack.waitForStatus(ok.body.id, 'completed');
    await stack.waitForStatus(bad.body.id, 'failed');
    const { queue, records } = stack.context;
    await waitFor('jobs finished', async () => {
      const counts = await queue.getJobCounts('completed', 'failed');
      return counts.completed === 1 && counts.failed === 1;
    });
    const keepAll = sweeperOf(stack, { completedJobMaxAgeMs: DAY, failedJobMaxAgeMs: DAY });
    expect(await keepAll.sweep()).toEqual({ files: 0, completedJobs: 0, failedJobs: 0 });
    await sleep(20);
    const sweeper = sweeperOf(stack, { completedJobMaxAgeMs: 10, failedJobMaxAgeMs: 10 });
    expect(await sweeper.sweep()).toEqual({ files: 0, completedJobs: 1, failedJobs: 1 });
    expect(await queue.getJob(ok.body.id)).toBeUndefined();
    expect(await queue.getJob(bad.body.id)).toBeUndefined();
    expect((await records.get(ok.body.id))?.status).toBe('completed');
    expect((await records.get(bad.body.id))?.status).toBe('failed');
  });

  it('should subtract only what it counted: files stored before the total existed leave it alone', async () => {
    stack = await createTestStack(server.redis, {}, { worker: false });
    const [before, after] = await filesWith(stack, ['completed', 'completed']);
    const { records, keys, redis: client } = stack.context;
    // An upload of a qscale version without the total: no countedBytes, not in the total (this
    // Redis is the test's own).
    await client.hdel(keys.file(before!.id), 'countedBytes');
    await client.hincrby(keys.storage(), 'blobBytes', -before!.size);
    expect(await records.storedBlobBytes()).toBe(after!.size);
    expect((await request(stack.app).delete(`/api/v1/files/${before!.id}`)).status).toBe(204);
    expect(await records.storedBlobBytes()).toBe(after!.size);
    expect((await request(stack.app).delete(`/api/v1/files/${after!.id}`)).status).toBe(204);
    expect(await records.storedBlobBytes()).toBe(0);
    // Back at 0, the total leaves no key behind.
    expect(await client.exists(keys.storage())).toBe(0);
  });

  it('should let one of several replicas sweep per interval', async () => {
    stack = await createTestStack(server.redis, {}, { worker: false });
    const a = sweeperOf(stack, { maxFiles: 10 });
    const b = sweeperOf(stack, { maxFiles: 10 });
    const reports = await Promise.all([a.sweepIfFirst(), b.sweepIfFirst()]);
    expect(reports.filter((report) => report === undefined)).toHaveLength(1);
  });

  it('should refuse bad retention settings at start-up, naming the setting', () => {
    // The sweeper takes its options from the checked config: loadConfig is where they are refused.
    expect(() => loadConfig({ MAX_FILES: '-1' })).toThrow(
      'MAX_FILES="-1": must be a whole number from 0 to 1000000000',
    );
    expect(() => loadConfig({ FILE_RETENTION_SECONDS: '1.5' })).toThrow(/FILE_RETENTION_SECONDS=/);
    expect(() => loadConfig({ KEEP_COMPLETED_SECONDS: '-1' })).toThrow(/KEEP_COMPLETED_SECONDS=/);
    expect(() => loadConfig({ KEEP_FAILED_SECONDS: '-1' })).toThrow(/KEEP_FAILED_SECONDS=/);
    expect(() => loadConfig({ RETENTION_INTERVAL_SECONDS: '0' })).toThrow(
      /RETENTION_INTERVAL_SECONDS=/,
    );
  });
});
