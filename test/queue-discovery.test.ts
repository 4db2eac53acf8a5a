import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger, type Logger } from '../src/config/logger.js';
import { QueueDiscovery } from '../src/kinds/queue-discovery.js';
import { sumOf, type PromSample } from '../harness/prom-text.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { rqEnqueue, rqPythonRun } from '../harness/rq.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { scrapeUntil } from '../harness/scrape-until.js';
import { testEnv } from '../harness/stack.js';
import { uniqueQueueName } from '../harness/test-queue.js';

/**
 * A sidecar whose QUEUES names queues by pattern (`bullmq:<prefix>/*`, `rq:*`): queues created
 * after it started are found within DISCOVERY_INTERVAL_SECONDS, and those deleted are dropped,
 * with their series.
 */
describe('QueueDiscovery', () => {
  const prefix = uniqueQueueName('tenants');
  let redis: TestRedisServer;
  let connection: Redis;
  let exporter: RunningExporter;
  let scaler: ScalerClient;

  const waiting = (samples: PromSample[], queue: string) =>
    sumOf(samples, 'qscale_queue_jobs', { queue, state: 'wait' });
  const listed = (samples: PromSample[], queue: string) =>
    samples.some((s) => s.name === 'qscale_queue_jobs' && s.labels.queue === queue);
  const until = (check: (samples: PromSample[]) => boolean) =>
    scrapeUntil(`${exporter.url}/metrics`, check, 20_000);

  beforeAll(async () => {
    redis = await startRedisServer();
    const env = await testEnv(redis, {
      QUEUES: `bullmq:${prefix}/*,rq:*`,
      DISCOVERY_INTERVAL_SECONDS: '1',
      HOST: '127.0.0.1',
      SAMPLE_TTL_MS: '0',
      METRICS_PORT: '0',
      KEDA_PORT: '0',
    });
    const config = loadConfig(env);
    exporter = await runExporter(config, createLogger(config, 'test'));
    scaler = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
    connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    scaler?.close();
    await exporter?.close();
    connection?.disconnect();
    await redis?.stop();
  });

  it('should find BullMQ and RQ queues created after it started, and sum a pattern trigger', async () => {
    const a = uniqueQueueName('a');
    const b = uniqueQueueName('b');
    const rq = uniqueQueueName('rq');
    const queueA = new Queue(a, { connection, prefix });
    const queueB = new Queue(b, { connection, prefix });
    await queueA.addBulk([1, 2, 3].map((n) => ({ name: 'job', data: { n } })));
    await queueB.add('job', {});
    await rqEnqueue(redis.port, rq, [{ fn: 'work', args: [0] }]);
    const samples = await until(
      (s) => waiting(s, a) === 3 && waiting(s, b) === 1 && waiting(s, rq) === 1,
    );
    expect([waiting(samples, a), waiting(samples, b), waiting(samples, rq)]).toEqual([3, 1, 1]);
    // A KEDA trigger may name a pattern: the sum over the queues it matches.
    const metrics = await scaler.getMetrics({
      queue: `bullmq:${prefix}/*`,
      mode: 'backlog',
      includeActive: 'false',
    });
    expect(metrics.metricValues[0]?.metricValueFloat).toBe(4);
    const active = await scaler.isActive({ queue: 'rq:*', mode: 'backlog' });
    expect(active.result).toBe(true);
    await queueA.close();
    await queueB.close();
  });

  it('should drop a queue that was deleted, and its series', async () => {
    const gone = uniqueQueueName('gone');
    const kept = uniqueQueueName('kept');
    const rqGone = uniqueQueueName('rqgone');
    const queueGone = new Queue(gone, { connection, prefix });
    const queueKept = new Queue(kept, { connection, prefix });
    await queueGone.add('job', {});
    await queueKept.add('job', {});
    await rqEnqueue(redis.port, rqGone, [{ fn: 'work', args: [0] }]);
    await until((s) => listed(s, gone) && listed(s, kept) && listed(s, rqGone));
    await queueGone.obliterate({ force: true });
    await rqPythonRun(
      [
        'from redis import Redis',
        'from rq import Queue',
        `Queue(${JSON.stringify(rqGone)}, connection=Redis(host='127.0.0.1', port=${redis.port})).delete(delete_jobs=True)`,
      ].join('\n'),
    );
    const samples = await until((s) => !listed(s, gone) && !listed(s, rqGone));
    expect(listed(samples, gone)).toBe(false);
    expect(listed(samples, rqGone)).toBe(false);
    expect(waiting(samples, kept)).toBe(1);
    await queueKept.obliterate({ force: true });
    await queueGone.close();
    await queueKept.close();
  });

  it('should watch at most MAX_DISCOVERED_QUEUES queues found by pattern, and say how many it left out', async () => {
    const capped = uniqueQueueName('capped');
    const queues = [1, 2, 3].map((n) => new Queue(`${capped}-${n}`, { connection, prefix }));
    await Promise.all(queues.map((q) => q.add('job', {})));
    const discovery = new QueueDiscovery(connection, {
      named: [],
      patterns: [{ kind: 'bullmq', prefix, pattern: `${capped}-*` }],
      intervalMs: 60_000,
      maxQueues: 2,
    });
    await discovery.refresh();
    expect(discovery.all()).toHaveLength(2);
    expect(discovery.leftOut).toBeGreaterThan(0);
    await discovery.close();
    await Promise.all(queues.map((q) => q.obliterate({ force: true }).then(() => q.close())));
  });

  it('should watch one queue of a name that two patterns find (another kind), and warn of the other', async () => {
    const name = uniqueQueueName('twice');
    const queue = new Queue(name, { connection, prefix });
    await queue.add('job', {});
    await rqEnqueue(redis.port, name, [{ fn: 'work', args: [0] }]);
    const warnings: unknown[][] = [];
    const logger = { warn: (...args: unknown[]) => warnings.push(args), info: () => undefined };
    const discovery = new QueueDiscovery(connection, {
      named: [],
      patterns: [
        { kind: 'bullmq', prefix, pattern: name },
        { kind: 'rq', prefix: 'rq', pattern: name },
      ],
      intervalMs: 60_000,
      maxQueues: 10,
      logger: logger as unknown as Logger,
    });
    await discovery.refresh();
    expect(discovery.all().map((q) => q.address)).toEqual([`bullmq:${prefix}/${name}`]);
    expect(JSON.stringify(warnings)).toContain(`rq:${name}`);
    // Said once, not at every discovery.
    await discovery.refresh();
    expect(warnings).toHaveLength(1);
    await discovery.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await rqPythonRun(
      `from redis import Redis; from rq import Queue; Queue(${JSON.stringify(name)}, connection=Redis(host='127.0.0.1', port=${redis.port})).delete(delete_jobs=True)`,
    );
  });
});

describe('loadConfig with patterns', () => {
  it('should read QUEUES patterns for discovery, and refuse a bad one', () => {
    const config = loadConfig({ QUEUES: 'a,*,bullmq:app/t-*,rq:*' });
    expect(config.metrics.queues.map((q) => q.name)).toEqual(['a']);
    expect(config.metrics.queuePatterns).toEqual([
      { kind: 'bullmq', prefix: 'bull', pattern: '*' },
      { kind: 'bullmq', prefix: 'app', pattern: 't-*' },
      { kind: 'rq', prefix: 'rq', pattern: '*' },
    ]);
    expect(config.metrics.discoveryIntervalSeconds).toBe(30);
    expect(config.metrics.maxDiscoveredQueues).toBe(500);
    expect(() => loadConfig({ QUEUES: 'rq:a*b/c' })).toThrow(/rq:a\*b\/c/);
  });
});
