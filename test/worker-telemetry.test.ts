import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/config/logger.js';
import { bucketFor, cumulativeBuckets, parseHistogram } from '../src/queue/histogram-fields.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';

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

  it('should show a job that just started as a busy slot before the next heartbeat', async () => {
    // The deletion-cost keeper protects busy pods by these slots: a pod that took a job a second
    // ago must not look idle until its next heartbeat (5 s here).
    const client = redis.client();
    const keys = new QueueKeys('bull', `q${Math.random()}`.replace('.', ''));
    const telemetry = new WorkerTelemetry(client, keys, logger, {
      workerId: 'starting',
      buckets: [1, 10],
      concurrency: 3,
      heartbeatSeconds: 5,
    });
    await telemetry.heartbeat();
    const sampler = new QueueSampler(client, keys, { ttlMs: 0 });
    expect((await sampler.sampleQueue()).workers[0]).toMatchObject({ busy: 0 });
    const token = telemetry.jobStarted();
    telemetry.jobStarted();
    await new Promise((resolve) => setTimeout(resolve, 300)); // written within 100 ms
    const busy = await sampler.sampleQueue();
    expect(busy.workers[0]).toMatchObject({ id: 'starting', busy: 2 });
    expect(busy.workers[0]!.oldestJobStartedAt).toBeGreaterThan(0);
    expect(busy.workerTotals).toMatchObject({ busy: 2, busyWorkers: 1 });
    telemetry.jobEnded({ status: 'completed', processingSeconds: 0.3 }, token);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await sampler.sampleQueue()).workers[0]).toMatchObject({ busy: 1, completed: 1 });
    await telemetry.close();
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

describe('worker totals', () => {
  let redis: TestRedisServer;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await redis.stop();
  });

  /**
   * Workers and a sampler of one fresh queue on one shared fake clock, so that "three heartbeats
   * later" takes no time. Workers heartbeat only when the test says so (no timers): one that the
   * test stops calling is a worker killed with SIGKILL.
   */
  function fleet() {
    let now = 1_000_000_000;
    const client = redis.client();
    const keys = new QueueKeys('bull', `totals${Math.random()}`.replace('.', ''));
    const telemetries: WorkerTelemetry[] = [];
    return {
      client,
      keys,
      advance: (seconds: number) => (now += seconds * 1000),
      now: () => now,
      worker(workerId: string, concurrency: number) {
        const telemetry = new WorkerTelemetry(client, keys, logger, {
          workerId,
          concurrency,
          heartbeatSeconds: 5,
          buckets: [1],
          now: () => now,
        });
        telemetries.push(telemetry);
        return telemetry;
      },
      async sample(maxWorkers?: number) {
        const options = {
          ttlMs: 0,
          now: () => now,
          ...(maxWorkers !== undefined && { maxWorkers }),
        };
        return new QueueSampler(client, keys, options).sampleQueue();
      },
      async close() {
        await Promise.all(telemetries.map((t) => t.close()));
        client.disconnect();
      },
    };
  }

  /** Ends `n` jobs and waits for their flush. */
  async function finishJobs(telemetry: WorkerTelemetry, n: number) {
    for (let i = 0; i < n; i++) {
      telemetry.jobStarted();
      telemetry.jobEnded({ status: 'completed', processingSeconds: 0.5 });
    }
    await new Promise((resolve) => setTimeout(resolve, 200)); // flushed within 100 ms
  }

  it('should sum concurrency, busy slots, busy workers and utilization over N workers', async () => {
    const f = fleet();
    try {
      const a = f.worker('a', 4);
      const b = f.worker('b', 2);
      const c = f.worker('c', 1);
      a.jobStarted();
      a.jobStarted();
      b.jobStarted();
      await Promise.all([a, b, c].map((t) => t.heartbeat()));
      f.advance(5);
      await Promise.all([a, b, c].map((t) => t.heartbeat()));
      const { workerTotals, workers } = await f.sample();
      expect(workerTotals).toMatchObject({ live: 3, concurrency: 7, busy: 3, busyWorkers: 2 });
      // a: 2 of 4 slots busy for 5 s, b: 1 of 2, c: idle → (0.5 × 4 + 0.5 × 2 + 0) / 7.
      expect(workerTotals!.utilization).toBeCloseTo(3 / 7, 3);
      expect(workers.map((w) => w.id).sort()).toEqual(['a', 'b', 'c']);
    } finally {
      await f.close();
    }
  });

  it("should drop a killed worker's share once its heartbeat expires, and keep its job counts", async () => {
    const f = fleet();
    try {
      const a = f.worker('a', 4);
      const doomed = f.worker('doomed', 3);
      doomed.jobStarted();
      await Promise.all([a.heartbeat(), doomed.heartbeat()]);
      await finishJobs(doomed, 5);
      expect((await f.sample()).workerTotals).toMatchObject({ live: 2, concurrency: 7, busy: 1 });

      // `doomed` never heartbeats again, and never closes: SIGKILL.
      f.advance(10);
      await a.heartbeat();
      expect((await f.sample()).workerTotals).toMatchObject({ live: 2, concurrency: 7 });
      f.advance(6); // its deadline (3 heartbeats) has passed; nobody has reaped it yet
      const beforeReap = await f.sample();
      expect(beforeReap.workerTotals).toMatchObject({
        live: 1,
        concurrency: 4,
        busy: 0,
        busyWorkers: 0,
        completed: 5,
      });
      expect(beforeReap.workers.map((w) => w.id)).toEqual(['a']);

      await a.heartbeat(); // reaps it
      // Peeking at the contributions hash: the reaper, not only the reader, dropped its share.
      expect(await f.client.hkeys(f.keys.workerContributions())).toEqual(['a']);
      expect((await f.sample()).workerTotals).toMatchObject({
        live: 1,
        concurrency: 4,
        busy: 0,
        completed: 5,
      });
    } finally {
      await f.close();
    }
  });

  it('should subtract an expired worker exactly once when two peers reap at the same time', async () => {
    const f = fleet();
    try {
      const [a, b, dead] = [f.worker('a', 2), f.worker('b', 2), f.worker('dead', 5)];
      await Promise.all([a, b, dead].map((t) => t.heartbeat()));
      f.advance(16);
      await Promise.all([a.heartbeat(), b.heartbeat(), a.heartbeat(), b.heartbeat()]);
      expect((await f.sample()).workerTotals).toMatchObject({ live: 2, concurrency: 4 });
      expect(await f.client.hget(f.keys.workerTotals(), 'concurrency')).toBe('4');
    } finally {
      await f.close();
    }
  });

  it('should count a worker that was reaped but is alive again exactly once when it heartbeats', async () => {
    const f = fleet();
    try {
      const a = f.worker('a', 2);
      const stalled = f.worker('stalled', 3);
      stalled.jobStarted();
      await Promise.all([a.heartbeat(), stalled.heartbeat()]);
      await finishJobs(stalled, 2);
      f.advance(16); // `stalled` misses three heartbeats (a long GC pause, a network cut)
      await a.heartbeat();
      expect((await f.sample()).workerTotals).toMatchObject({ live: 1, concurrency: 2 });

      await stalled.heartbeat();
      await stalled.heartbeat();
      await finishJobs(stalled, 1);
      await stalled.heartbeat();
      const totals = (await f.sample()).workerTotals;
      expect(totals).toMatchObject({ live: 2, concurrency: 5, busy: 1, busyWorkers: 1 });
      // Its 3 jobs counted once each, however many times it left and came back.
      expect(totals!.completed).toBe(3);
    } finally {
      await f.close();
    }
  });

  it('should subtract a worker that stops cleanly at once and keep what it counted', async () => {
    const f = fleet();
    try {
      const a = f.worker('a', 2);
      const leaving = f.worker('leaving', 6);
      await Promise.all([a.heartbeat(), leaving.heartbeat()]);
      await finishJobs(leaving, 4);
      await leaving.close();
      await leaving.close(); // idempotent
      const { workerTotals, workers } = await f.sample();
      expect(workerTotals).toMatchObject({ live: 1, concurrency: 2, completed: 4 });
      expect(workers.map((w) => w.id)).toEqual(['a']);
    } finally {
      await f.close();
    }
  });

  it('should read zeros once every worker is dead, and start clean when a worker comes back', async () => {
    const f = fleet();
    try {
      const old = [f.worker('x', 3), f.worker('y', 3)];
      for (const t of old) t.jobStarted();
      await Promise.all(old.map((t) => t.heartbeat()));
      f.advance(3600); // the whole fleet was killed an hour ago; nobody was left to reap it
      expect((await f.sample()).workerTotals).toMatchObject({
        live: 0,
        concurrency: 0,
        busy: 0,
        busyWorkers: 0,
        utilization: 0,
      });
      const fresh = f.worker('z', 2);
      await fresh.heartbeat();
      expect((await f.sample()).workerTotals).toMatchObject({ live: 1, concurrency: 2, busy: 0 });
      expect(await f.client.hkeys(f.keys.workerContributions())).toEqual(['z']);
    } finally {
      await f.close();
    }
  });

  it('should treat a restarted process that reuses a worker id as a new worker', async () => {
    const f = fleet();
    try {
      const first = f.worker('pod-0', 4);
      first.jobStarted();
      await first.heartbeat();
      await finishJobs(first, 3);
      // SIGKILL, and the pod comes back at once under the same name with fewer slots.
      const second = f.worker('pod-0', 2);
      await second.heartbeat();
      await finishJobs(second, 1);
      const totals = (await f.sample()).workerTotals;
      expect(totals).toMatchObject({ live: 1, concurrency: 2, busy: 0, busyWorkers: 0 });
      expect(totals!.completed).toBe(4); // 3 of the first process + 1 of the second
      // The first process's late clean stop leaves the id to the second.
      await first.close();
      expect((await f.sample()).workerTotals).toMatchObject({ live: 1, concurrency: 2 });
    } finally {
      await f.close();
    }
  });

  it('should heal the totals when something else drops an id from the live set', async () => {
    const f = fleet();
    try {
      const a = f.worker('a', 2);
      const b = f.worker('b', 3);
      await Promise.all([a.heartbeat(), b.heartbeat()]);
      // Stands in for a worker of the previous version during a rolling upgrade: its heartbeat
      // trims expired ids with ZREMRANGEBYSCORE and knows nothing of their shares.
      await f.client.zrem(f.keys.workers(), 'b');
      const c = f.worker('c', 4);
      await c.heartbeat();
      expect((await f.sample()).workerTotals).toMatchObject({ live: 2, concurrency: 9 });
      // Every 12th heartbeat of a worker sweeps for shares whose id has left the live set.
      for (let i = 1; i < 12; i++) await c.heartbeat();
      expect((await f.sample()).workerTotals).toMatchObject({ live: 2, concurrency: 6 });
      expect((await f.client.hkeys(f.keys.workerContributions())).sort()).toEqual(['a', 'c']);
      expect(await f.client.zrange(f.keys.workersByStart(), 0, -1)).toEqual(['a', 'c']);
    } finally {
      await f.close();
    }
  });

  it('should list the maxWorkers longest-running workers and sum all of them', async () => {
    const f = fleet();
    try {
      const all: WorkerTelemetry[] = [];
      for (let i = 0; i < 5; i++) {
        all.push(f.worker(`w${i}`, i + 1));
        f.advance(1); // w0 started first
      }
      all[4]!.jobStarted();
      await Promise.all(all.map((t) => t.heartbeat()));
      const capped = await f.sample(3);
      expect(capped.workers.map((w) => w.id)).toEqual(['w0', 'w1', 'w2']);
      expect(capped.workerTotals).toMatchObject({ live: 5, concurrency: 15, busy: 1 });
      expect((await f.sample(0)).workers).toEqual([]);
      // The oldest one stops: the next one takes its place in the list.
      await all[0]!.close();
      expect((await f.sample(3)).workers.map((w) => w.id)).toEqual(['w1', 'w2', 'w3']);
    } finally {
      await f.close();
    }
  });

  it('should sample in one round trip with a cost that stops growing at maxWorkers', async () => {
    const f = fleet();
    const reader = redis.client();
    try {
      await reader.ping();
      // Each write to the socket is one request (a command, or a whole pipeline).
      let writes = 0;
      const write = reader.stream.write.bind(reader.stream) as (...args: unknown[]) => boolean;
      reader.stream.write = ((...args: unknown[]) => {
        writes++;
        return write(...args);
      }) as typeof reader.stream.write;
      const commands = async () => {
        // On the workers' clock: they are live, so their telemetry is read (no CLIENT LIST). A
        // new sampler each time: its first read reads everything (later ones only what changed).
        const sampler = new QueueSampler(reader, f.keys, { ttlMs: 0, maxWorkers: 10, now: f.now });
        const before = await reader.info('commandstats');
        const sent = writes;
        await sampler.sampleQueue();
        expect(writes - sent).toBe(1);
        const after = await reader.info('commandstats');
        const calls = (info: string) =>
          [...info.matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
        return calls(after) - calls(before) - 1; // less the first INFO
      };
      const grow = async (to: number) => {
        for (let i = (await f.sample()).workerTotals!.live; i < to; i++) {
          await f.worker(`w${i}`, 1).heartbeat();
        }
      };
      await grow(20);
      const at20 = await commands();
      await grow(200);
      const at200 = await commands();
      expect(at200).toBe(at20);
    } finally {
      reader.disconnect();
      await f.close();
    }
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
