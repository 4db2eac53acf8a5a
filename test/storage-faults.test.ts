import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, type TestStack } from '../harness/stack.js';

/** Mounts a 2 MiB tmpfs, or says why it cannot (not root, no mount permission). */
function mountSmallDisk(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  }
}

describe('A full upload disk', () => {
  let redis: TestRedisServer;
  let dir: string;
  let cannotMount: string | undefined;
  let stack: TestStack | undefined;

  beforeAll(async () => {
    redis = await new TestRedisServer().start();
    dir = await mkdtemp(join(tmpdir(), 'qscale-small-disk-'));
    cannotMount = mountSmallDisk(dir);
    if (cannotMount) {
      console.warn(`skipping the full-disk test: cannot mount a tmpfs here (${cannotMount})`);
      return;
    }
    stack = await createTestStack(redis, { UPLOAD_DIR: dir }, { worker: false });
  });

  afterAll(async () => {
    await stack?.close().catch(() => undefined);
    if (!cannotMount) execFileSync('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
    await redis.stop();
  });

  it('should answer 507 at once, remove the partial file, and take uploads again', async (ctx) => {
    if (!stack) return ctx.skip();
    const started = Date.now();
    const res = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.alloc(3_000_000, 'a'), 'big.txt');
    expect(res.status).toBe(507);
    expect(res.body.error.code).toBe('insufficient_storage');
    expect(res.body.error.message).toContain('ENOSPC');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await stack.listUploadFiles()).toEqual([]);
    expect((await stack.listQueueKeys()).filter((k) => k.includes(':qscale:file:'))).toEqual([]);

    const small = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('fits'), 'small.txt');
    expect(small.status).toBe(202);
  });
});

describe('A full Redis (maxmemory, noeviction)', () => {
  let redis: TestRedisServer;
  let stack: TestStack;

  beforeAll(async () => {
    redis = await new TestRedisServer([
      '--maxmemory',
      '4mb',
      '--maxmemory-policy',
      'noeviction',
    ]).start();
    stack = await createTestStack(redis, {}, { worker: false });
  });

  afterAll(async () => {
    const client = redis.client();
    await client.config('SET', 'maxmemory', '0');
    client.disconnect();
    await stack.close();
    await redis.stop();
  });

  it('should answer 503 with Retry-After and keep nothing of the upload', async () => {
    // Fill Redis to its limit with a key of the test's own.
    const client = redis.client();
    const filler = Buffer.alloc(256 * 1024, 'x');
    for (let i = 0; i < 64; i++) {
      const ok = await client.set(`filler:${i}`, filler).catch(() => null);
      if (ok === null) break;
    }
    const keysBefore = await stack.listQueueKeys();
    const res = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('no room'), 'a.txt');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('redis_full');
    expect(res.headers['retry-after']).toBeDefined();
    await stack.context.settler.idle();
    expect(await stack.listUploadFiles()).toEqual([]);
    // The settlement's decision marker (expires within the hour) is all that may remain.
    expect((await stack.listQueueKeys()).filter((k) => !k.includes(':qscale:settle:'))).toEqual(
      keysBefore,
    );

    // Once there is room again, uploads are taken.
    await client.del(...Array.from({ length: 64 }, (_, i) => `filler:${i}`));
    client.disconnect();
    const again = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('room again'), 'b.txt');
    expect(again.status).toBe(202);
  });
});
