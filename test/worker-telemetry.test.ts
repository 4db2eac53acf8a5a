import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/config/logger.js';
import { bucketFor, cumulativeBuckets, parseHistogram } from '../src/queue/histogram-fields.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/queue/queue-sampler.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';

const logger = createLogger({ logLevel: 'silent' }, 'test');

describe('WorkerTelemetry', () => {
  let redis: TestRedisServer;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await redis.stop();
  });

  function telemetryWithClock(concurrency: number, queue = `q${Math.random()}`.replace('.', '')) {
    let now = 1_000_000;
    const client = redis.client();
    const keys = new QueueKeys('bull', queue);
    const telemetry = new WorkerTelemetry(client, keys, logger, {
      workerId: 'clocked',
      concurrency,
      heartbeatSeconds: 5,
      utilizationWindowSeconds: 60,
      buckets: [0.1, 1, 10],
      now: () => now,
    });
    return {
      telemetry,
      client,
      keys,
      advance: (seconds: number) => (now += seconds * 1000),
      now: () => now,
    };
  }

  it('should report utilization 1 for every slot busy, 0.5 for half, and fall to 0 once idle for a window', async () => {
    const { telemetry, advance, client } = telemetryWithClock(2);
    telemetry.jobStarted();
    telemetry.jobStarted();
    advance(10);
    expect(telemetry.utilization()).toBeCloseTo(1, 5);
    telemetry.jobEnded({ status: 'completed', processingSeconds: 10 });
    advance(10);
    // 20 busy slot-seconds + 10 over 20 s × 2 slots.
    expect(telemetry.utilization()).toBeCloseTo(30 / 40, 5);
    telemetry.jobEnded({ status: 'completed', processingSeconds: 20 });
    for (let i = 0; i < 14; i++) {
      advance(5);
      await telemetry.heartbeat();
    }
    expect(telemetry.utilization()).toBe(0);
    await telemetry.close();
    client.disconnect();
  });

  it('should turn job ends into histogram buckets, counters and a heartbeat the sampler reads', async () => {
    const { telemetry, client, keys } = telemetryWithClock(3);
    await telemetry.heartbeat();
    telemetry.jobStarted();
    telemetry.jobEnded({ status: 'completed', processingSeconds: 0.05, waitSeconds: 2 });
    telemetry.jobStarted();
    telemetry.jobEnded({ status: 'completed', processingSeconds: 5 });
    telemetry.jobStarted();
    telemetry.jobEnded({ status: 'failed', processingSeconds: 50 });
    await new Promise((resolve) => setTimeout(resolve, 300)); // flushed within 100 ms
    // The sampler reads with the real clock; the heartbeat used the fake one, so re-announce.
    await client.zadd(keys.workers(), Date.now() + 60_000, 'clocked');
    const snapshot = await new QueueSampler(client, keys, { ttlMs: 0 }).sampleQueue();
    expect(snapshot.processing.completed.count).toBe(2);
    expect(snapshot.processing.completed.sum).toBeCloseTo(5.05, 5);
    expect(snapshot.processing.completed.buckets.get(0.1)).toBe(1);
    expect(snapshot.processing.completed.buckets.get(10)).toBe(1);
    expect(snapshot.processing.failed.buckets.get(Infinity)).toBe(1);
    expect(snapshot.wait.count).toBe(1);
    expect(snapshot.workers).toHaveLength(1);
    expect(snapshot.workers[0]).toMatchObject({
      id: 'clocked',
      concurrency: 3,
      completed: 2,
      failed: 1,
      busy: 0,
    });
    await telemetry.close();
    const after = await new QueueSampler(client, keys, { ttlMs: 0 }).sampleQueue();
    expect(after.workers).toEqual([]);
    client.disconnect();
  });

  it('should refuse a worker id that is not a safe label value', () => {
    const client = redis.client();
    for (const workerId of ['', 'has space', 'quote"', 'x'.repeat(129), 'new\nline']) {
      expect(
        () =>
          new WorkerTelemetry(client, new QueueKeys('bull', 'q'), logger, {
            workerId,
            concurrency: 1,
            buckets: [1],
          }),
      ).toThrow(/not a safe label value/);
    }
    client.disconnect();
  });
});

describe('histogram fields', () => {
  it('should put a value in the first bucket that holds it', () => {
    expect(bucketFor(0.1, [0.1, 1])).toBe(0.1);
    expect(bucketFor(0.5, [0.1, 1])).toBe(1);
    expect(bucketFor(2, [0.1, 1])).toBe(Infinity);
  });

  it('should cumulate stored buckets under the reported bounds, even when the bounds differ', () => {
    const histogram = parseHistogram([
      'count',
      '4',
      'sum',
      '9.5',
      'le:0.5',
      '1',
      'le:2',
      '2',
      'le:+Inf',
      '1',
      'junk',
      'x',
    ]);
    expect(histogram).toMatchObject({ count: 4, sum: 9.5 });
    expect(cumulativeBuckets(histogram, [0.5, 2])).toEqual([
      { le: 0.5, count: 1 },
      { le: 2, count: 3 },
      { le: Infinity, count: 4 },
    ]);
    expect(cumulativeBuckets(histogram, [1, 5])).toEqual([
      { le: 1, count: 1 },
      { le: 5, count: 3 },
      { le: Infinity, count: 4 },
    ]);
  });
});
