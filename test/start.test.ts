import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, runCli } from './helpers/cli-process.js';

async function waitForCompleted(url: string, id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const body = (await (await fetch(`${url}/api/v1/files/${id}`)).json()) as Record<
      string,
      unknown
    >;
    if (body.status === 'completed') return body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${id} did not complete`);
}

describe('qscale start', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qscale-start-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({
    REDIS_URL: '',
    REDIS_DATA_DIR: join(dir, 'redis'),
    UPLOAD_DIR: join(dir, 'uploads'),
    PORT: '0',
    HOST: '127.0.0.1',
  });

  it('should run its own redis-server, process an upload, and keep data across a restart', async () => {
    const first = new CliProcess(['start'], env());
    const listening = await first.waitForLog((line) => typeof line.upload === 'string');
    const url = String(listening.url);
    const form = new FormData();
    form.append('file', new Blob(['Private Redis keeps the albatross data.']), 'note.md');
    const upload = await fetch(`${url}/api/v1/files`, { method: 'POST', body: form });
    expect(upload.status).toBe(202);
    const { id } = (await upload.json()) as { id: string };
    await waitForCompleted(url, id);

    // `qscale status` finds the private Redis without REDIS_URL.
    const status = await runCli(['status', '--json'], {
      REDIS_URL: '',
      REDIS_DATA_DIR: join(dir, 'redis'),
    });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).queue.counts.completed).toBe(1);

    first.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(existsSync(join(dir, 'redis', 'redis.url'))).toBe(false);
    expect(existsSync(join(dir, 'redis', 'appendonlydir'))).toBe(true);

    const second = new CliProcess(['start'], env());
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
