import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/config/logger.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import { redisPerFile } from '../harness/redis-per-file.js';
import { uniqueQueueName } from '../harness/test-queue.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The sampler reads again only what changed since its last read of a queue: these tests change a
 * queue in each way it can change and expect the next sample to see it at once.
 */
describe('QueueSampler', () => {
  const files = redisPerFile();

  it('should see every change at once while reading an unchanged queue for 6 commands at most', async () => {
    const connection = files.redis.client();
    const reader = files.redis.client();
    const name = uniqueQueueName('changes');
    const queue = new Queue(name, { connection, prefix: 'bull' });
    files.cleanups.push(async () => {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
      reader.disconnect();
    });
    const sampler = new QueueSampler(reader, new QueueKeys('bull', name), { ttlMs: 0 });
    await queue.add('a', {});
    expect((await sampler.sampleQueue()).counts.wait).toBe(1);
    // Nothing changed: the counts, workers and histograms are not read again; without qscale
    // workers the events stream is read from the cursor on (the test counts commands because
    // their number is what this is about).
    const calls = async () =>
      [...(await reader.info('commandstats')).matchAll(/calls=(\d+)/g)].reduce(
        (sum, m) => sum + Number(m[1]),
        0,
      );
    const before = await calls();
    expect((await sampler.sampleQueue()).counts.wait).toBe(1);
    expect((await calls()) - before - 1).toBeLessThanOrEqual(6);
    await queue.add('b', {});
    expect((await sampler.sampleQueue()).counts.wait).toBe(2);
    // A delayed job falls due without any event: the sample sees it when its time comes.
    await queue.add('c', {}, { delay: 300 });
    const delayed = await sampler.sampleQueue();
    expect([delayed.counts.delayed, delayed.delayedDue, delayed.backlog]).toEqual([1, 0, 2]);
    await sleep(400);
    const due = await sampler.sampleQueue();
    expect([due.delayedDue, due.backlog]).toEqual([1, 3]);
    await queue.pause();
    expect((await sampler.sampleQueue()).paused).toBe(true);
  });

  it('should read the counts every time while the events stream is empty (trimmed to nothing)', async () => {
    const connection = files.redis.client();
    const reader = files.redis.client();
    const name = uniqueQueueName('no-events');
    const keys = new QueueKeys('bull', name);
    const queue = new Queue(name, {
      connection,
      prefix: 'bull',
      streams: { events: { maxLen: 0 } },
    });
    // A live qscale worker heartbeat: the sampler takes the instrumented path (no event reads).
    const telemetry = new WorkerTelemetry(
      connection,
      keys,
      createLogger({ logLevel: 'silent' }, 'test'),
      {
        workerId: 'w1',
        concurrency: 1,
        heartbeatSeconds: 5,
        buckets: [1],
      },
    );
    files.cleanups.push(async () => {
      await telemetry.close();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
      reader.disconnect();
    });
    await telemetry.start();
    const sampler = new QueueSampler(reader, keys, { ttlMs: 0 });
    // An operator (or the app) trims BullMQ's events stream to nothing after each change: an
    // empty stream cannot tell a change, so the sample reads the counts anyway.
    const trim = () => connection.xtrim(keys.bull('events'), 'MAXLEN', 0);
    await queue.add('a', {});
    await trim();
    expect((await sampler.sampleQueue()).counts.wait).toBe(1);
    for (const [i, job] of ['b', 'c', 'd'].entries()) {
      await queue.add(job, {});
      await trim();
      expect((await sampler.sampleQueue()).counts.wait, `after ${job}`).toBe(i + 2);
    }
  });
});
