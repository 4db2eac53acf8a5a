import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRecords } from '../src/pipeline/file-records.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { uniqueQueueName } from '../harness/test-queue.js';

describe('FileRecords.complete', () => {
  let redis: TestRedisServer;
  const clients: { disconnect(): void }[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await redis.stop();
  });

  function setup() {
    const client = redis.client();
    clients.push(client);
    const keys = new QueueKeys('{bull}', uniqueQueueName('records'));
    return { client, keys, records: new FileRecords(client, keys) };
  }

  async function create(records: FileRecords, id: string) {
    const record = { id, name: 'a.txt', type: 'text' as const, size: 1, sha256: 'x' };
    await records.createPending([record], Date.now(), 60_000);
    await records.confirm([id], Date.now());
  }

  it('should publish chunks and vectors at once and leave no temporary keys', async () => {
    const { client, keys, records } = setup();
    const id = '11111111-1111-4111-8111-111111111111';
    await create(records, id);
    // Tests peek at the commands on this test's own Redis to show that the visible list is
    // never built piece by piece.
    const monitor = await client.duplicate().monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ')));
    const chunks = Array.from({ length: 1200 }, (_, i) => `chunk ${i}`);
    expect(await records.complete(id, chunks, Buffer.alloc(16, 1), { status: 'completed' })).toBe(
      true,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    monitor.disconnect();
    const appends = seen.filter((line) => /^rpush /i.test(line));
    expect(appends.length).toBeGreaterThan(1);
    expect(appends.every((line) => line.split(' ')[1]!.includes(':writing:'))).toBe(true);
    expect(await client.lrange(keys.chunks(id), 0, -1)).toEqual(chunks);
    expect((await client.getBuffer(keys.vectors(id)))?.length).toBe(16);
    expect(await client.ttl(keys.chunks(id))).toBe(-1);
    expect(await client.keys('*:writing:*')).toEqual([]);
    expect((await records.get(id))?.status).toBe('completed');
  });

  it('should replace an earlier result, never append to it', async () => {
    const { client, keys, records } = setup();
    const id = '22222222-2222-4222-8222-222222222222';
    await create(records, id);
    await records.complete(id, ['a', 'b', 'c'], Buffer.alloc(8), { status: 'completed' });
    await records.complete(id, ['d'], Buffer.alloc(0), { status: 'completed' });
    expect(await client.lrange(keys.chunks(id), 0, -1)).toEqual(['d']);
    expect(await client.exists(keys.vectors(id))).toBe(0);
  });

  it('should keep nothing for a file deleted while it was processed', async () => {
    const { client, keys, records } = setup();
    const id = '33333333-3333-4333-8333-333333333333';
    await create(records, id);
    await records.delete(id);
    expect(await records.complete(id, ['x'], Buffer.alloc(8), { status: 'completed' })).toBe(false);
    expect(await client.keys(`${keys.bull('')}*`)).toEqual([]);
  });
});
