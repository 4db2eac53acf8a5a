import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, type TestStack } from '../harness/stack.js';

let redis: TestRedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis.stop();
});

interface ListedFile {
  id: string;
  name: string;
  status: string;
  uploadedAt: string;
}

interface Page {
  files: ListedFile[];
  limit: number;
  status: string | null;
  nextCursor: string | null;
}

describe('GET /api/v1/files', () => {
  let stack: TestStack;

  afterEach(async () => {
    await stack?.close();
  });

  async function upload(...names: string[]): Promise<string[]> {
    let req = request(stack.app).post('/api/v1/files');
    for (const name of names) req = req.attach('file', Buffer.from(`text of ${name}`), name);
    const res = await req;
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return names.length === 1
      ? [res.body.id as string]
      : (res.body.files as { id: string }[]).map((f) => f.id);
  }

  async function page(query: string): Promise<Page> {
    const res = await request(stack.app).get(`/api/v1/files${query}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as Page;
  }

  it('should list files newest first and page through them with nextCursor, batches included', async () => {
    stack = await createTestStack(redis, {}, { worker: false });
    const single: string[] = [];
    for (const name of ['a.txt', 'b.txt', 'c.txt']) {
      single.push(...(await upload(name)));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Five files of one request share their upload time: pages must cut through them cleanly.
    const batch = await upload('d1.txt', 'd2.txt', 'd3.txt', 'd4.txt', 'd5.txt');

    const all = await page('?limit=100');
    expect(all.nextCursor).toBeNull();
    expect(all.files).toHaveLength(8);
    expect(
      all.files
        .map((f) => f.id)
        .slice(0, 5)
        .sort(),
    ).toEqual([...batch].sort());
    expect(all.files.map((f) => f.id).slice(5)).toEqual([...single].reverse());
    expect(all.files.every((f) => f.status === 'queued')).toBe(true);
    const times = all.files.map((f) => Date.parse(f.uploadedAt));
    expect(times).toEqual([...times].sort((x, y) => y - x));

    for (const limit of [1, 2, 3]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const next: Page = await page(
          `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(next.files.length).toBeLessThanOrEqual(limit);
        seen.push(...next.files.map((f) => f.id));
        cursor = next.nextCursor;
        pages++;
      } while (cursor !== null && pages < 20);
      expect(seen, `limit ${limit}`).toEqual(all.files.map((f) => f.id));
    }

    // A deleted file is no longer listed.
    expect((await request(stack.app).delete(`/api/v1/files/${single[1]}`)).status).toBe(204);
    const after = await page('');
    expect(after.files.map((f) => f.id)).not.toContain(single[1]);
    expect(after.files).toHaveLength(7);
  });

  it('should filter by status', async () => {
    stack = await createTestStack(redis);
    const [good] = await upload('good.txt');
    const res = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('%PDF-1.7 this is not a PDF at all'), 'broken.pdf');
    expect(res.status).toBe(202);
    const broken = res.body.id as string;
    await stack.waitForStatus(good!, 'completed');
    await stack.waitForStatus(broken, 'failed');

    const failed = await page('?status=failed');
    expect(failed.status).toBe('failed');
    expect(failed.files.map((f) => f.id)).toEqual([broken]);
    expect(failed.nextCursor).toBeNull();
    expect((await page('?status=completed')).files.map((f) => f.id)).toEqual([good]);
    expect((await page('?status=queued')).files).toEqual([]);
  });

  it('should answer 400 to a bad status, limit or cursor, saying what is allowed', async () => {
    stack = await createTestStack(redis, {}, { worker: false });
    await upload('x.txt');
    const cases: [string, RegExp][] = [
      ['?status=done', /"status" must be one of queued, processing, completed, failed/],
      ['?status=failed&status=queued', /"status" must be one of/],
      ['?limit=0', /"limit" must be a whole number from 1 to 100/],
      ['?limit=101', /"limit" must be a whole number from 1 to 100/],
      ['?cursor=abc', /"cursor" must be the nextCursor of a previous page/],
      ['?cursor=1.00000000-0000-0000-0000-00000000000g', /"cursor"/],
    ];
    for (const [query, message] of cases) {
      const res = await request(stack.app).get(`/api/v1/files${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.message, query).toMatch(message);
    }
    // A well-formed cursor that matches no file goes on from its time.
    const old = await page(
      `?cursor=${encodeURIComponent('1.00000000-0000-4000-8000-000000000000')}`,
    );
    expect(old.files).toEqual([]);
    expect(old.nextCursor).toBeNull();
    const future = await page(
      `?cursor=${encodeURIComponent(`${Date.now() + 60_000}.00000000-0000-4000-8000-000000000000`)}`,
    );
    expect(future.files).toHaveLength(1);
  });

  it('should need the bearer token when API_TOKEN is set', async () => {
    stack = await createTestStack(
      redis,
      { API_TOKEN: 'secret-token-0123456789' },
      { worker: false },
    );
    expect((await request(stack.app).get('/api/v1/files')).status).toBe(401);
    const ok = await request(stack.app)
      .get('/api/v1/files')
      .set('Authorization', 'Bearer secret-token-0123456789');
    expect(ok.status).toBe(200);
  });
});
