import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { CliProcess, runCli } from '../harness/cli-process.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { waitForFileStatus } from '../harness/wait-for-file-status.js';

const waitForCompleted = (url: string, id: string) =>
  waitForFileStatus(url, id, ['completed'], { timeoutMs: 10_000, intervalMs: 50 });

describe('qscale start', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qscale-start-'));
  });

  afterAll(async () => {
    // A start that was SIGKILLed by a failing test leaves its redis-server behind: stop it.
    const pid = Number(await readFile(join(dir, 'redis', 'redis.pid'), 'utf8').catch(() => ''));
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({
    REDIS_URL: '',
    REDIS_DATA_DIR: join(dir, 'redis'),
    UPLOAD_DIR: join(dir, 'uploads'),
    PORT: '0',
    METRICS_PORT: '0',
    KEDA_PORT: '0',
    HOST: '127.0.0.1',
  });

  it('should run its own redis-server, process an upload, and keep data across a restart', async () => {
    const first = new CliProcess(['start'], env());
    onTestFinished(() => first.stop());
    const listening = await first.waitForLog((line) => typeof line.upload === 'string');
    const url = String(listening.url);
    const form = new FormData();
    form.append('file', new Blob(['Private Redis keeps the albatross data.']), 'note.md');
    const upload = await fetch(`${url}/api/v1/files`, { method: 'POST', body: form });
    expect(upload.status).toBe(202);
    const { id } = (await upload.json()) as { id: string };
    await waitForCompleted(url, id);

    // The exporter runs in the same process tree and reports the work done (job ends reach
    // Redis within 100 ms).
    const metricsUrl = String(
      (await first.waitForLog((line) => typeof line.metrics === 'string')).metrics,
    );
    // Within 5 s. (The former loop waited for `status="completed"} 1`, which the labels
    // `prefix` and `kind` no longer end in: it always ran its 5 s.)
    await vi.waitFor(
      async () => {
        const metrics = await (await fetch(metricsUrl)).text();
        expect(metrics).toMatch(
          /qscale_jobs_processed_total\{queue="file_processing",status="completed",prefix="bull",kind="bullmq"\} 1/,
        );
        expect(metrics).toMatch(
          /qscale_workers\{queue="file_processing",prefix="bull",kind="bullmq"\} 1/,
        );
      },
      { timeout: 5000, interval: 100 },
    );

    // So does the KEDA external scaler, to a client built from our .proto.
    const kedaPort = Number(
      (await first.waitForLog((line) => typeof line.kedaPort === 'number')).kedaPort,
    );
    const scaler = new ScalerClient(`127.0.0.1:${kedaPort}`);
    try {
      for (const mode of ['backlog', 'latency', 'workers']) {
        const value = await scaler.getMetrics({ queue: 'file_processing', mode });
        expect(value.metricValues, mode).toHaveLength(1);
        // The workers mode still sees the upload's arrival in its rate window (the exporter has
        // read since start-up): arrival rate × processing time rounds up to 1 worker, no more.
        const expected = mode === 'workers' ? [0, 1] : [0];
        expect(expected, mode).toContain(value.metricValues[0]!.metricValue);
      }
      expect((await scaler.isActive({ queue: 'file_processing' })).result).toBe(false);
    } finally {
      scaler.close();
    }

    // `qscale status` finds the private Redis without REDIS_URL.
    const status = await runCli(['status', '--json'], {
      REDIS_URL: '',
      REDIS_DATA_DIR: join(dir, 'redis'),
    });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).queues[0].counts.completed).toBe(1);
    // `qscale jobs` finds its sidecar the same way, without --url.
    const jobs = await runCli(['jobs', 'list', '--state', 'completed', '--json'], {
      REDIS_URL: '',
      REDIS_DATA_DIR: join(dir, 'redis'),
      QSCALE_URL: '',
    });
    expect(jobs.code, jobs.stderr).toBe(0);
    expect(JSON.parse(jobs.stdout)).toMatchObject({ queue: 'file_processing', total: 1 });

    // A second start on the same data directory is refused and leaves the first one's files alone.
    const clash = await runCli(['start'], env());
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('another qscale start');
    expect(existsSync(join(dir, 'redis', 'redis.url'))).toBe(true);

    first.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(existsSync(join(dir, 'redis', 'redis.url'))).toBe(false);
    expect(existsSync(join(dir, 'redis', 'sidecar.json'))).toBe(false);
    expect(existsSync(join(dir, 'redis', 'appendonlydir'))).toBe(true);

    const second = new CliProcess(['start'], env());
    onTestFinished(() => second.stop());
    try {
      const again = String(
        (await second.waitForLog((line) => typeof line.upload === 'string')).url,
      );
      const record = (await (await fetch(`${again}/api/v1/files/${id}`)).json()) as {
        status: string;
      };
      expect(record.status).toBe('completed');
      const search = await fetch(`${again}/api/v1/search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'albatross' }),
      });
      const found = (await search.json()) as { results: { text: string }[] };
      expect(found.results[0]?.text).toContain('albatross');
    } finally {
      second.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    }
  });

  it('should say how to install redis-server or set REDIS_URL when redis-server is missing', async () => {
    const { code, stderr } = await runCli(['start'], { ...env(), PATH: '/nonexistent' });
    expect(code).toBe(1);
    expect(stderr).toContain('redis-server was not found');
    expect(stderr).toContain('REDIS_URL');
  });
});
