import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliProcess } from '../harness/cli-process.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';

describe('Two app processes and two worker processes on one Redis', () => {
  let redis: TestRedisServer;
  let uploadDir: string;
  const processes: CliProcess[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    uploadDir = await mkdtemp(join(tmpdir(), 'qscale-multi-'));
  });

  afterAll(async () => {
    await Promise.all(processes.map((proc) => proc.stop()));
    await redis.stop();
    await rm(uploadDir, { recursive: true, force: true });
  });

  it('should complete 200 uploads spread over both apps, each processed exactly once', async () => {
    const env = {
      REDIS_URL: redis.url,
      QUEUE_NAME: `multi_${randomUUID().slice(0, 8)}`,
      UPLOAD_DIR: uploadDir,
      PORT: '0',
      HOST: '127.0.0.1',
      WORKER_CONCURRENCY: '4',
    };
    const apps = [0, 1].map((i) => new CliProcess(['app'], { ...env, WORKER_ID: `app-${i}` }));
    const workers = [0, 1].map(
      (i) => new CliProcess(['worker'], { ...env, WORKER_ID: `worker-${i}` }),
    );
    processes.push(...apps, ...workers);
    const urls = await Promise.all(
      apps.map(async (app) =>
        String((await app.waitForLog((line) => typeof line.upload === 'string')).url),
      ),
    );
    await Promise.all(
      workers.map((worker) => worker.waitForLog((line) => line.msg === 'worker taking jobs')),
    );

    const ids: string[] = [];
    const upload = async (i: number) => {
      const form = new FormData();
      form.append(
        'file',
        new Blob([`Document ${i} talks about subject-${i} at length.`]),
        `doc-${i}.txt`,
      );
      const res = await fetch(`${urls[i % 2]}/api/v1/files`, { method: 'POST', body: form });
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    };
    for (let i = 0; i < 200; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => upload(i + j)));
    }
    expect(new Set(ids).size).toBe(200);

    // Up to 60 s until all are completed; the test's own timeout leaves room for it, so a timeout
    // here lists the files still pending.
    let pending = [...ids];
    await vi.waitFor(
      async () => {
        const statuses = await Promise.all(
          pending.map(async (id, i) => {
            const res = await fetch(`${urls[i % 2]}/api/v1/files/${id}`);
            return ((await res.json()) as { status: string; attempts: number }).status;
          }),
        );
        pending = pending.filter((_, i) => statuses[i] !== 'completed');
        expect(pending).toEqual([]);
      },
      { timeout: 60_000, interval: 200 },
    );

    const processed = workers.flatMap((worker) =>
      worker.lines
        .filter((line) => line.msg === 'file processed')
        .map((line) => String(line.fileId)),
    );
    expect(processed).toHaveLength(200);
    expect(new Set(processed).size).toBe(200);
    // Both workers took part: any worker takes any job.
    for (const worker of workers) {
      expect(worker.lines.some((line) => line.msg === 'file processed')).toBe(true);
    }
  }, 90_000);
});
