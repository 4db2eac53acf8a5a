import { describe, expect, it, vi } from 'vitest';
import { runExporter } from '../src/cli/run-exporter.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import {
  HistoryRecorder,
  readHistory,
  readQueuePrior,
  type HistoryTier,
} from '../src/exporter/queue-history.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { ScalingSignals } from '../src/scaling/scaling-signals.js';
import { redisPerFile } from '../harness/redis-per-file.js';
import { openTestQueue, uniqueQueueName } from '../harness/test-queue.js';
import { testEnv } from '../harness/stack.js';
import { ScalerClient } from '../harness/scaler-client.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Queue history', () => {
  const server = redisPerFile();
  const { cleanups } = server;
  const logger = createLogger({ logLevel: 'silent' }, 'test');

  /** A sidecar replica's recorder on the test Redis, with the tiers given. */
  function recorder(keys: QueueKeys, tiers: HistoryTier[], owner: string) {
    const client = server.redis.client();
    cleanups.push(async () => client.disconnect());
    const signals = new ScalingSignals(new QueueSampler(client, [keys], { ttlMs: 0 }), 60);
    return new HistoryRecorder({
      redis: client,
      keys: new Map([[keys.queue, keys]]),
      read: () => signals.read(),
      rates: (snapshot) => signals.rates(snapshot),
      sizing: { targetWaitSeconds: 30 },
      logger,
      owner,
      tiers,
    });
  }

  it('should write each step once between replicas, keep a bounded stream and read it back', async () => {
    const name = uniqueQueueName('history');
    const { queue, close } = openTestQueue(server.redis, name);
    cleanups.push(close);
    const keys = new QueueKeys('bull', name);
    const tier = { name: '5s', stepMs: 400, keepMs: 2_000 };
    const replicas = [recorder(keys, [tier], 'a'), recorder(keys, [tier], 'b')];
    for (let round = 1; round <= 7; round++) {
      await queue.add('j', {});
      await Promise.all(replicas.map((replica) => replica.tick()));
      await sleep(450);
    }
    const client = server.redis.client();
    cleanups.push(async () => client.disconnect());
    // Seven steps, one point each (the lease lapses 320 ms into a 400 ms step), the stream cut
    // to keepMs / stepMs = 5 points.
    expect(await client.xlen(keys.history('5s'))).toBe(5);
    const { stepSeconds, points } = await readHistory(client, keys, 60, [tier]);
    expect(stepSeconds).toBe(0.4);
    // The newest five: backlog 3..7 (one job added per round, no worker).
    expect(points.map((point) => point[1])).toEqual([3, 4, 5, 6, 7]);
    expect(points.every(([t], i) => i === 0 || t > points[i - 1]![0])).toBe(true);
    // The stream and its lease expire when no sidecar writes for a whole tier.
    expect(await client.pttl(keys.history('5s'))).toBeGreaterThan(0);
    expect(await client.pttl(keys.history('5s'))).toBeLessThanOrEqual(2_000);
  });

  it('should cost a few tens of KiB per queue for a full hour and day', async () => {
    const name = uniqueQueueName('history');
    const keys = new QueueKeys('bull', name);
    const { queue, close } = openTestQueue(server.redis, name);
    cleanups.push(close);
    await queue.addBulk(Array.from({ length: 1234 }, () => ({ name: 'j', data: {} })));
    // The shipped lengths (720 and 1 440 points), filled quickly: a 1 ms step.
    const tiers = [
      { name: '5s', stepMs: 1, keepMs: 720 },
      { name: '1m', stepMs: 1, keepMs: 1_440 },
    ];
    const filler = recorder(keys, tiers, 'a');
    const client = server.redis.client();
    cleanups.push(async () => client.disconnect());
    while ((await client.xlen(keys.history('1m'))) < 1_440) await filler.tick();
    const bytes =
      Number(await client.call('MEMORY', 'USAGE', keys.history('5s'))) +
      Number(await client.call('MEMORY', 'USAGE', keys.history('1m')));
    expect(await client.xlen(keys.history('5s'))).toBe(720);
    // Measured 2026-12-02: see the "History" paragraph of docs/console.md.
    console.log(`history of one queue, full: ${(bytes / 1024).toFixed(1)} KiB`);
    expect(bytes).toBeLessThan(200 * 1024);
  });

  it('should serve the stored history after a sidecar restart, and keep none with HISTORY=off', async () => {
    const name = uniqueQueueName('history');
    const { queue, close } = openTestQueue(server.redis, name);
    cleanups.push(close);
    await queue.add('j', {});
    const env: Env = await testEnv(server.redis, { QUEUE_NAME: name, HOST: '127.0.0.1' });
    const config = loadConfig(env);
    const first = await runExporter(config, logger);
    const client = server.redis.client();
    cleanups.push(async () => client.disconnect());
    // The first point is written at start (2.5 s at most; the expects below say what is off).
    await vi
      .waitFor(
        async () => {
          if ((await client.exists(new QueueKeys('bull', name).history('5s'))) === 0)
            throw new Error('not yet');
        },
        { timeout: 2500, interval: 50 },
      )
      .catch(() => undefined);
    await first.close();
    const second = await runExporter(config, logger);
    cleanups.push(() => second.close());
    const res = await fetch(`${second.url}/api/v1/queues/${name}/history?seconds=300`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      enabled: boolean;
      stepSeconds: number;
      points: number[][];
    };
    expect(body.enabled).toBe(true);
    expect(body.stepSeconds).toBe(5);
    expect(body.points.length).toBeGreaterThanOrEqual(1);
    expect(body.points[0]![1]).toBe(1);
    const bad = await fetch(`${second.url}/api/v1/queues/${name}/history?seconds=5`);
    expect(bad.status).toBe(400);

    const offName = uniqueQueueName('history');
    const off = await runExporter(
      loadConfig(
        await testEnv(server.redis, { QUEUE_NAME: offName, HOST: '127.0.0.1', HISTORY: 'off' }),
      ),
      logger,
    );
    cleanups.push(() => off.close());
    await fetch(`${off.url}/metrics`);
    await sleep(200);
    expect(await client.keys(`bull:${offName}:qscale:history*`)).toEqual([]);
    const none = (await (await fetch(`${off.url}/api/v1/queues/${offName}/history`)).json()) as {
      enabled: boolean;
      points: unknown[];
    };
    expect(none).toMatchObject({ enabled: false, points: [] });
  });

  it('should give a restarted sidecar the processing time its history measured, to size a first burst', async () => {
    // A queue whose workers report nothing the new sidecar can read yet (no job finished since
    // it started): before, it asked for 1 worker whatever the backlog; with the stored history
    // it sizes the burst at once.
    const name = uniqueQueueName('history');
    const keys = new QueueKeys('bull', name);
    const { queue, close } = openTestQueue(server.redis, name);
    cleanups.push(close);
    // The earlier life of the queue: a sidecar's recorder wrote what it measured (7.5 s a job).
    const client = server.redis.client();
    cleanups.push(async () => client.disconnect());
    const signals = new ScalingSignals(new QueueSampler(client, [keys], { ttlMs: 0 }), 60);
    const earlier = new HistoryRecorder({
      redis: client,
      keys: new Map([[keys.queue, keys]]),
      read: () => signals.read(),
      rates: () => ({ meanProcessingSeconds: 7.5 }),
      sizing: { targetWaitSeconds: 30 },
      logger,
      owner: 'earlier',
    });
    await earlier.tick();
    expect(await readQueuePrior(client, keys)).toEqual({ processingSeconds: 7.5 });
    expect(await readQueuePrior(client, new QueueKeys('bull', uniqueQueueName('none')))).toEqual(
      {},
    );

    await queue.addBulk(Array.from({ length: 40 }, () => ({ name: 'j', data: {} })));
    const sidecar = await runExporter(
      loadConfig(await testEnv(server.redis, { QUEUE_NAME: name, HOST: '127.0.0.1' })),
      logger,
    );
    cleanups.push(() => sidecar.close());
    const scaler = new ScalerClient(`127.0.0.1:${sidecar.scaler.port}`);
    cleanups.push(async () => scaler.close());
    const metadata = { queue: name, mode: 'workers', concurrency: '2', targetWaitSeconds: '30' };
    // 40 waiting × 7.5 s within the 30 s objective = 10 slots → 5 workers of 2 (read at start, in
    // the background: within a few seconds).
    await vi.waitFor(
      async () => expect((await scaler.getMetrics(metadata)).metricValues[0]!.metricValue).toBe(5),
      { timeout: 5000, interval: 100 },
    );
  });
});
