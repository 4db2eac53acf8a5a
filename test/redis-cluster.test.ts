import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis as IORedis, type Cluster, type Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../src/config/config.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger, type Logger } from '../src/config/logger.js';
import { createApp } from '../src/app/express-adapter.js';
import { createApiContext } from '../src/cli/run-app.js';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { collectStatus, formatStatus } from '../src/cli/status.js';
import { runWorker } from '../src/cli/run-worker.js';
import { runDoctor } from '../src/doctor/doctor.js';
import type { FileStatus } from '../src/pipeline/file-record.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { createRedis, slotOf } from '../src/redis/redis-connection.js';
import { runCli } from '../harness/cli-process.js';
import { find, parsePromText, sumOf, valueOf, type PromSample } from '../harness/prom-text.js';
import { startRedisCluster, type TestRedisCluster } from '../harness/redis-cluster.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { uniqueQueueName } from '../harness/test-queue.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const silent = createLogger({ logLevel: 'silent' }, 'test');

const waitFor = (check: () => boolean | Promise<boolean>, timeoutMs = 10_000) =>
  vi.waitFor(
    async () => {
      if (!(await check())) throw new Error('condition not met in time');
    },
    { timeout: timeoutMs, interval: 20 },
  );

/** A logger that keeps its warnings and errors, to show that none surfaced. */
function recordingLogger(): { logger: Logger; problems: Record<string, unknown>[] } {
  const problems: Record<string, unknown>[] = [];
  const logger = createLogger({ logLevel: 'warn' }, 'test', {
    write: (line: string) => problems.push(JSON.parse(line) as Record<string, unknown>),
  });
  return { logger, problems };
}

/** Counts the writes to a node connection's socket: ioredis writes one pipeline with one write. */
function countWrites(node: Redis): { count: number } {
  const counter = { count: 0 };
  const stream = node.stream;
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((...args: unknown[]) => {
    counter.count++;
    return write(...args);
  }) as typeof stream.write;
  return counter;
}

describe('Redis Cluster', () => {
  let cluster: TestRedisCluster;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await Promise.resolve(cleanup()).catch(() => undefined);
    }
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** Settings on the test cluster: QUEUE_PREFIX={bull}, a unique queue, a private upload dir. */
  async function clusterEnv(env: Env = {}): Promise<Env> {
    const uploadDir = await mkdtemp(join(tmpdir(), 'qscale-cluster-test-'));
    cleanups.push(() => rm(uploadDir, { recursive: true, force: true }));
    return {
      REDIS_CLUSTER_NODES: cluster.seeds,
      QUEUE_PREFIX: '{bull}',
      QUEUE_NAME: uniqueQueueName('cluster'),
      UPLOAD_DIR: uploadDir,
      LOG_LEVEL: 'silent',
      JOB_BACKOFF_MS: '50',
      HOST: '127.0.0.1',
      METRICS_PORT: '0',
      KEDA_PORT: '0',
      SAMPLE_TTL_MS: '0',
      ...env,
    };
  }

  /** A Cluster connection for BullMQ queues and assertions, closed after the test. */
  function clusterClient(): Cluster {
    const client = cluster.clusterClient();
    cleanups.push(() => client.disconnect());
    return client;
  }

  /** A BullMQ queue on the cluster (obliterated after the test). */
  function openQueue(connection: Cluster, name: string, prefix: string): Queue {
    const queue = new Queue(name, { connection, prefix });
    queue.on('error', () => undefined);
    cleanups.push(async () => {
      await queue.obliterate({ force: true });
      await queue.close();
    });
    return queue;
  }

  /** The upload API (supertest, no listen) and an in-process worker. */
  async function stackFor(config: Config, logger: Logger = silent) {
    const context = createApiContext(config, logger);
    const worker = await runWorker(config, logger);
    cleanups.push(async () => {
      await worker.close();
      await context.queue.obliterate({ force: true }).catch(() => undefined);
      await context.queue.close();
      await context.redis.quit().catch(() => undefined);
    });
    await context.queue.waitUntilReady();
    const app = createApp(context);
    const upload = async (text: string, name = 'notes.txt') => {
      const res = await request(app).post('/api/v1/files').attach('file', Buffer.from(text), name);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body.id as string;
    };
    const waitForStatus = (id: string, status: FileStatus, timeoutMs = 10_000) =>
      vi.waitFor(
        async () => {
          const record = await context.records.get(id);
          if (record?.status === status) return record;
          throw new Error(`file ${id} did not reach ${status}: ${JSON.stringify(record)}`);
        },
        { timeout: timeoutMs, interval: 25 },
      );
    return { context, worker, app, upload, waitForStatus };
  }

  async function exporterFor(config: Config, logger: Logger = silent) {
    const exporter = await runExporter(config, logger);
    cleanups.push(() => exporter.close());
    return exporter;
  }

  async function scrape(exporter: RunningExporter) {
    const res = await fetch(`${exporter.url}/metrics`);
    expect(res.status).toBe(200);
    return parsePromText(await res.text());
  }

  /**
   * Four queues: `a` and `d` under QUEUE_PREFIX={bull} (one slot, so one master), `b` and `c`
   * under hash tags served by the two other masters. Returns their config and BullMQ queues.
   */
  async function queuesOnEveryMaster(env: Env = {}) {
    const tags = await cluster.hashTagsOnEveryMaster('bull');
    const others = tags.filter((t) => t.tag !== '{bull}');
    expect(others).toHaveLength(2);
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((q) => uniqueQueueName(q)) as [
      string,
      string,
      string,
      string,
    ];
    const prefixes: Record<string, string> = {
      [a]: '{bull}',
      [b]: others[0]!.tag,
      [c]: others[1]!.tag,
      [d]: '{bull}',
    };
    const config = loadConfig(
      await clusterEnv({
        QUEUE_NAME: a,
        QUEUES: `${a},bullmq:${prefixes[b]}/${b},bullmq:${prefixes[c]}/${c},${d}`,
        ...env,
      }),
    );
    const connection = clusterClient();
    const queues = Object.fromEntries(
      Object.entries(prefixes).map(([name, prefix]) => [name, openQueue(connection, name, prefix)]),
    );
    // Which master serves each queue, as the cluster says.
    const masterOf: Record<string, number> = {};
    for (const [name, prefix] of Object.entries(prefixes)) {
      masterOf[name] = (await cluster.masterOfKey(`${prefix}:${name}:wait`)).port;
    }
    expect(new Set(Object.values(masterOf)).size).toBe(3);
    expect(masterOf[a]).toBe(masterOf[d]);
    return { config, names: { a, b, c, d }, prefixes, queues, masterOf };
  }

  describe('pipeline', () => {
    it('should take files from upload to completed, make them searchable, and delete them', async () => {
      const config = loadConfig(await clusterEnv());
      const { app, upload, waitForStatus } = await stackFor(config);
      const first = await upload('Lighthouses guard the rocky cluster coast.', 'coast.txt');
      const second = await upload('# Harbour\n\nFerries cross the windy harbour at dawn.', 'h.md');
      for (const id of [first, second]) {
        expect((await waitForStatus(id, 'completed')).chunks).toBeGreaterThan(0);
      }
      const status = await request(app).get(`/api/v1/files/${first}`);
      expect(status.body).toMatchObject({ id: first, status: 'completed', progress: 100 });
      const chunks = await request(app).get(`/api/v1/files/${second}/chunks`);
      expect(chunks.body.chunks[0].text).toContain('windy harbour');

      const found = await request(app).post('/api/v1/search').send({ query: 'rocky coast', k: 1 });
      expect(found.status).toBe(200);
      expect(found.body.results[0]).toMatchObject({ fileId: first, fileName: 'coast.txt' });

      // An Idempotency-Key retry gives the same file and no second job.
      const once = () =>
        request(app)
          .post('/api/v1/files')
          .set('Idempotency-Key', 'cluster-retry-1')
          .attach('file', Buffer.from('Only once, please.'), 'once.txt');
      const [r1, r2] = [await once(), await once()];
      expect(r1.status).toBe(202);
      expect(r2.body.id).toBe(r1.body.id);

      expect((await request(app).delete(`/api/v1/files/${first}`)).status).toBe(204);
      expect((await request(app).get(`/api/v1/files/${first}`)).status).toBe(404);
    });
  });

  describe('a full master (maxmemory, noeviction)', () => {
    it('should answer 503 redis_full to an upload once the queue’s master is full, keep reads and deletes working, and keep nothing', async () => {
      const config = loadConfig(await clusterEnv());
      const { app, context, upload, waitForStatus, worker } = await stackFor(config);
      // Warm: served and processed uploads.
      const first = await upload('The harbour light turns all night.', 'light.txt');
      const second = await upload('Boats sleep in the lee of the pier.', 'pier.txt');
      for (const id of [first, second]) await waitForStatus(id, 'completed');
      await worker.close();
      const master = await cluster.masterOfKey(`{bull}:${config.queue.name}:wait`);
      const node = new IORedis(master.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      node.on('error', () => undefined);
      const fillers: string[] = [];
      cleanups.push(async () => {
        await node.config('SET', 'maxmemory', '0');
        for (let i = 0; i < fillers.length; i += 100) await node.del(...fillers.slice(i, i + 100));
        node.disconnect();
      });
      await node.config('SET', 'maxmemory-policy', 'noeviction');
      const used = Number(/used_memory:(\d+)/.exec(await node.info('memory'))![1]);
      await node.config('SET', 'maxmemory', String(used + 8 * 1024 * 1024));
      // Fill it with keys of the test's own in the queue's slot ({bull}), then keep it over.
      const filler = Buffer.alloc(64 * 1024, 'x');
      for (let i = 0; ; i++) {
        const key = `{bull}:filler:${i}`;
        if ((await node.set(key, filler).catch(() => null)) === null) break;
        fillers.push(key);
      }
      const full = Number(/used_memory:(\d+)/.exec(await node.info('memory'))![1]);
      await node.config('SET', 'maxmemory', String(full - 1024 * 1024));

      const countBefore = await context.records.count();
      const refused = await request(app)
        .post('/api/v1/files')
        .attach('file', Buffer.from('no room'), 'full.txt');
      expect(refused.status, JSON.stringify(refused.body)).toBe(503);
      expect(refused.body.error.code).toBe('redis_full');
      expect(refused.headers['retry-after']).toBe('30');
      await context.settler.idle();
      expect(await context.records.count()).toBe(countBefore);
      // Reads and deletes go on.
      const chunks = await request(app).get(`/api/v1/files/${first}/chunks`);
      expect(chunks.status, JSON.stringify(chunks.body)).toBe(200);
      expect((await request(app).delete(`/api/v1/files/${second}`)).status).toBe(204);
      expect((await request(app).get(`/api/v1/files/${second}`)).status).toBe(404);

      await node.config('SET', 'maxmemory', '0');
      expect(
        (await request(app).post('/api/v1/files').attach('file', Buffer.from('room'), 'r.txt'))
          .status,
      ).toBe(202);
    });
  });

  describe('exporter', () => {
    it('should count the jobs of queues on 3 masters, reading each master in one request per sample', async () => {
      const { config, names, queues, masterOf } = await queuesOnEveryMaster();
      const counts = { [names.a]: 3, [names.b]: 5, [names.c]: 7, [names.d]: 1 };
      for (const [name, n] of Object.entries(counts)) {
        await queues[name]!.addBulk(
          Array.from({ length: n }, (_, i) => ({ name: 'j', data: { i } })),
        );
      }
      await queues[names.c]!.add('later', {}, { delay: 3_600_000 });
      const exporter = await exporterFor(config);

      const m = await scrape(exporter);
      expect(valueOf(m, 'qscale_redis_up')).toBe(1);
      for (const [name, n] of Object.entries(counts)) {
        expect(valueOf(m, 'qscale_queue_jobs', { queue: name, state: 'wait' }), name).toBe(n);
        expect(valueOf(m, 'qscale_queue_length', { queue: name }), name).toBe(n);
      }
      expect(valueOf(m, 'qscale_queue_jobs', { queue: names.c, state: 'delayed' })).toBe(1);
      // Redis memory: one series per master (3 here), named by its address.
      const used = find(m, 'qscale_redis_memory_used_bytes');
      expect(used.map((sample) => sample.labels.node).sort()).toEqual(
        [...new Set(Object.values(masterOf))].map((port) => `127.0.0.1:${port}`).sort(),
      );
      for (const sample of used) expect(sample.value).toBeGreaterThan(0);
      expect(find(m, 'qscale_redis_maxmemory_bytes')).toHaveLength(3);

      // MONITOR on every node shows each script call, with its first key and the client that
      // sent it. These nodes are the test's own.
      const monitors = await Promise.all(
        cluster.nodes.map(async (node) => {
          const client = cluster.client(node.port);
          cleanups.push(() => client.disconnect());
          const monitor = await client.monitor();
          cleanups.push(() => monitor.disconnect());
          const scripts: { queue: string; source: string }[] = [];
          monitor.on('monitor', (_time: string, args: string[], source: string) => {
            const command = args[0]!.toLowerCase();
            if (command === 'eval' || command === 'evalsha') {
              // One script reads a batch of queues (those of one slot): every queue its keys name.
              const keys = args.slice(3, 3 + Number(args[2]));
              for (const queue of new Set(keys.map((key) => key.split(':')[1]!))) {
                scripts.push({ queue, source });
              }
            }
          });
          return { port: node.port, scripts };
        }),
      );
      await sleep(100);
      await scrape(exporter);
      await sleep(100);
      for (const { port, scripts } of monitors) {
        const expected = Object.keys(masterOf)
          .filter((name) => masterOf[name] === port)
          .sort();
        // Each queue read once, on the master that serves it and nowhere else (replicas: none).
        expect(scripts.map((s) => s.queue).sort(), `node ${port}`).toEqual(expected);
        // All from one connection of the exporter.
        expect(new Set(scripts.map((s) => s.source)).size).toBeLessThanOrEqual(1);
      }
    });

    it('should send one pipeline per master per sample, however many queues a master serves', async () => {
      const { config, names, prefixes, masterOf } = await queuesOnEveryMaster();
      const redis = createRedis(config.redis, { role: 'request' });
      cleanups.push(() => redis.disconnect());
      const sampler = new QueueSampler(
        redis,
        Object.values(names).map((name) => new QueueKeys(prefixes[name]!, name)),
        { ttlMs: 0 },
      );
      await sampler.sample(); // connects to every master and loads the script on each socket
      const masters = (redis as Cluster).nodes('master');
      expect(masters).toHaveLength(3);
      const writes = new Map(masters.map((node) => [node.options.port!, countWrites(node)]));
      for (let i = 0; i < 3; i++) {
        const sample = await sampler.sample();
        expect(sample.queues.map((q) => q.queue)).toEqual(Object.values(names));
        expect(sample.queues.map((q) => q.counts.wait)).toEqual([0, 0, 0, 0]);
      }
      // One write per master per sample, the master of a and d included (both scripts in it).
      const perMaster = Object.fromEntries([...writes].map(([port, c]) => [port, c.count]));
      expect(perMaster).toEqual(Object.fromEntries(masters.map((n) => [n.options.port!, 3])));
      expect(masterOf[names.a]).toBe(masterOf[names.d]);
    });
  });

  describe('a plain BullMQ app without qscale telemetry', () => {
    it('should derive processed jobs and count live workers (CLIENT LIST on every node)', async () => {
      const name = uniqueQueueName('plain');
      const prefix = '{plainapp}';
      const config = loadConfig(await clusterEnv({ QUEUES: `bullmq:${prefix}/${name}` }));
      const exporter = await exporterFor(config);
      const connection = clusterClient();
      const queue = openQueue(connection, name, prefix);
      await scrape(exporter); // the sidecar's first read
      const workerConnection = cluster.clusterClient({ maxRetriesPerRequest: null });
      cleanups.push(() => workerConnection.disconnect());
      const worker = new Worker(name, async () => undefined, {
        connection: workerConnection,
        prefix,
        name: 'plain-cluster-worker',
      });
      worker.on('error', () => undefined);
      cleanups.push(() => worker.close());
      await queue.addBulk(Array.from({ length: 8 }, (_, i) => ({ name: 'n', data: { i } })));
      const value = (samples: PromSample[], metric: string, labels: Record<string, string> = {}) =>
        sumOf(samples, metric, { queue: name, ...labels });
      let samples = await scrape(exporter);
      await waitFor(async () => {
        samples = await scrape(exporter);
        return (
          value(samples, 'qscale_jobs_processed_total') === 8 &&
          value(samples, 'qscale_workers') === 1
        );
      });
      expect(value(samples, 'qscale_jobs_processed_total', { status: 'completed' })).toBe(8);
      expect(value(samples, 'qscale_workers')).toBe(1);
      expect(
        find(samples, 'qscale_queue_telemetry_info', { queue: name })[0]?.labels,
      ).toMatchObject({ source: 'derived', workers_known: 'true', prefix });
    });
  });

  describe('KEDA scaler', () => {
    it('should answer GetMetrics for queues on 3 masters and wake StreamIsActive when a job is added', async () => {
      const { config, names, queues } = await queuesOnEveryMaster();
      const exporter = await exporterFor(config);
      const client = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
      cleanups.push(() => client.close());

      const received: boolean[] = [];
      const stream = client.client.StreamIsActive({
        name: 'so',
        namespace: 'ns',
        scalerMetadata: { queue: names.c },
      });
      stream.on('data', (message: { result: boolean }) => received.push(message.result));
      stream.on('error', () => undefined);
      cleanups.push(() => stream.cancel());
      await waitFor(() => received.length > 0);
      expect(received[0]).toBe(false);
      await sleep(300);
      const enqueuedAt = Date.now();
      await queues[names.c]!.add('wake', {});
      await waitFor(() => received.includes(true), 5000);
      // The blocking XREAD on the master of c woke the watcher, well before its 1 s timeout.
      expect(Date.now() - enqueuedAt).toBeLessThan(900);

      const counts = { [names.a]: 2, [names.b]: 4, [names.c]: 1 + 6, [names.d]: 3 };
      for (const [name, n] of Object.entries(counts)) {
        const add = name === names.c ? n - 1 : n;
        await queues[name]!.addBulk(Array.from({ length: add }, () => ({ name: 'j', data: {} })));
      }
      for (const [name, n] of Object.entries(counts)) {
        const metrics = await client.getMetrics({ queue: name });
        expect(metrics.metricValues[0]?.metricValue, name).toBe(n);
        expect((await client.isActive({ queue: name })).result).toBe(true);
      }
    });
  });

  describe('status and doctor', () => {
    it('should show the cluster nodes, the queue and its worker; doctor finds no Redis problem', async () => {
      const env = await clusterEnv({ WORKER_ID: 'cluster-worker-1' });
      const config = loadConfig(env);
      const { upload, waitForStatus } = await stackFor(config);
      await waitForStatus(await upload('Status on a cluster.'), 'completed');

      const report = await collectStatus(config);
      expect(report.redis).toMatchObject({ up: true, target: `cluster://${cluster.seeds}` });
      const nodes = report.redis.nodes!;
      expect(nodes).toHaveLength(6);
      const masters = nodes.filter((node) => node.role === 'master');
      expect(masters).toHaveLength(3);
      expect(masters.map((node) => node.slots).sort()).toEqual([
        '0-5460',
        '10923-16383',
        '5461-10922',
      ]);
      const replicas = nodes.filter((node) => node.role === 'replica');
      expect(replicas.map((node) => node.slots.replace(/^replica of /, '')).sort()).toEqual(
        masters.map((node) => node.address).sort(),
      );
      expect(nodes.every((node) => node.state === 'connected')).toBe(true);
      const queue = report.queues![0]!;
      expect(queue).toMatchObject({ name: config.queue.name, prefix: '{bull}', backlog: 0 });
      expect(queue.counts.completed).toBe(1);
      expect(queue.workers).toEqual({ count: 1, names: ['cluster-worker-1'] });
      expect(queue.heartbeats.map((h) => h.id)).toEqual(['cluster-worker-1']);
      const text = formatStatus(report);
      for (const node of nodes) expect(text).toContain(node.address);

      const cli = await runCli(['status'], env);
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout).toContain(`cluster://${cluster.seeds}`);
      for (const node of nodes) expect(cli.stdout).toContain(node.address);
      expect(cli.stdout).toMatch(/replica +127\.0\.0\.1:\d+ +connected +replica of 127\.0\.0\.1/);
      expect(cli.stdout).toContain(`Queue     ${config.queue.name} (BullMQ, prefix {bull})`);
      expect(cli.stdout).toContain('Workers   1 connected: cluster-worker-1');

      const doctor = await runDoctor(config);
      const redisChecks = doctor.checks.filter((check) => check.area === 'redis');
      expect(redisChecks.length).toBeGreaterThanOrEqual(4);
      for (const check of redisChecks) expect(check.status, check.found).toBe('OK');
      // Every master was read, and the cluster's own state was checked.
      expect(redisChecks.map((check) => check.name)).toEqual([
        'reachable',
        'cluster',
        'version',
        'maxmemory-policy',
        'memory',
      ]);
      expect(redisChecks[1]!.found).toBe(
        'cluster_state ok: 3 masters, 3 replicas, 16384 of 16384 slots served',
      );
      expect(redisChecks[2]!.found).toMatch(/^Redis [\d.]+ on 3 masters$/);
      expect(doctor.checks.filter((check) => check.status === 'FAIL')).toEqual([]);
      expect(doctor.checks.find((check) => check.name === 'live workers')).toMatchObject({
        status: 'OK',
        found: expect.stringContaining('cluster-worker-1'),
      });
    });

    it('should refuse a prefix without a hash tag: exit 2 naming QUEUE_PREFIX and the fix', async () => {
      const { code, stderr } = await runCli(['status'], {
        REDIS_CLUSTER_NODES: cluster.seeds,
        QUEUE_PREFIX: 'bull',
      });
      expect(code).toBe(2);
      expect(stderr).toContain('QUEUE_PREFIX="bull"');
      expect(stderr).toContain('QUEUE_PREFIX={bull}');
      expect(stderr).toMatch(/hash tag/);
    });
  });

  describe('resharding', () => {
    it('should keep uploads, reads and samples working while a queue’s slot moves to another master', async () => {
      // The moving queue and a queue that stays share a master, so the exporter's one pipeline
      // to that master holds both when the moving one is redirected.
      const tags = await cluster.hashTagsOnEveryMaster('mv');
      const moving = tags[0]!;
      const slot = slotOf(moving.tag);
      const stayTag = await cluster.hashTagOn(moving.master.port, 'stay');
      expect(slotOf(stayTag)).not.toBe(slot);
      const movingName = uniqueQueueName('moving');
      const stayName = uniqueQueueName('stay');
      const config = loadConfig(
        await clusterEnv({
          QUEUE_PREFIX: moving.tag,
          QUEUE_NAME: movingName,
          QUEUES: `${movingName},bullmq:${stayTag}/${stayName}`,
        }),
      );
      const { logger, problems } = recordingLogger();
      const { app, upload, waitForStatus, context } = await stackFor(config, logger);
      const exporter = await exporterFor(config, logger);
      const stay = openQueue(clusterClient(), stayName, stayTag);
      await stay.addBulk(Array.from({ length: 2 }, () => ({ name: 'j', data: {} })));

      const before: string[] = [];
      for (let i = 0; i < 4; i++) before.push(await upload(`Before the move, lantern ${i}.`));
      for (const id of before) await waitForStatus(id, 'completed');
      expect(valueOf(await scrape(exporter), 'qscale_scrape_errors_total')).toBe(0);

      // The keys move a few at a time (the slot MIGRATING on its master, IMPORTING on the other).
      // After each batch an upload and a scrape start, and are awaited at the end: Redis answers
      // them ASK (keys moved), TRYAGAIN (a script's keys split between the two masters) or MOVED
      // (after the move), and the clients follow. Once, with some records moved and some not,
      // every file is read: the moved ones through ASK.
      const source = cluster.client(moving.master.port);
      cleanups.push(() => source.disconnect());
      const target = tags[1]!.master.port;
      const recordKeys = before.map((id) => context.keys.file(id));
      let readMidway = false;
      const during: Promise<string>[] = [];
      const scrapes: Promise<unknown>[] = [];
      await cluster.moveSlot(slot, target, {
        batch: 3,
        between: async () => {
          during.push(upload(`During the move, lantern ${during.length}.`));
          scrapes.push(scrape(exporter));
          if (readMidway) return;
          const left = new Set((await source.cluster('GETKEYSINSLOT', slot, 100_000)) as string[]);
          const moved = recordKeys.filter((key) => !left.has(key)).length;
          if (moved === 0 || moved === recordKeys.length) return;
          readMidway = true;
          for (const id of before) {
            const res = await request(app).get(`/api/v1/files/${id}`);
            expect(res.status, JSON.stringify(res.body)).toBe(200);
            expect(res.body.status).toBe('completed');
          }
        },
      });
      expect(readMidway).toBe(true);
      expect(during.length).toBeGreaterThan(3);
      const ids = [...before, ...(await Promise.all(during))];
      await Promise.all(scrapes);
      expect((await cluster.masterOf(slot)).port).toBe(target);

      // Every client may still have the old slot map: its next commands get MOVED and follow it.
      // The exporter's pipeline to the old master comes back with the stay queue read and the
      // moving one redirected.
      const m = await scrape(exporter);
      expect(valueOf(m, 'qscale_redis_up')).toBe(1);
      expect(valueOf(m, 'qscale_queue_jobs', { queue: stayName, state: 'wait' })).toBe(2);
      for (let i = 0; i < 3; i++) ids.push(await upload(`After the move, lantern ${i}.`));
      for (const id of ids) await waitForStatus(id, 'completed');
      // A file's record says completed a moment before BullMQ moves its job to `completed`.
      let after = await scrape(exporter);
      await waitFor(async () => {
        after = await scrape(exporter);
        return (
          valueOf(after, 'qscale_queue_jobs', { queue: movingName, state: 'completed' }) ===
          ids.length
        );
      }, 5000).catch(() => undefined);
      expect(valueOf(after, 'qscale_queue_jobs', { queue: movingName, state: 'completed' })).toBe(
        ids.length,
      );
      // No scrape, during the move or after, failed to read Redis.
      expect(valueOf(after, 'qscale_scrape_errors_total')).toBe(0);
      const found = await request(app).post('/api/v1/search').send({ query: 'lantern', k: 100 });
      expect(found.body.results).toHaveLength(ids.length);
      // Nothing was logged as a warning or an error by the API, the worker or the exporter.
      expect(problems).toEqual([]);
    });
  });
});
