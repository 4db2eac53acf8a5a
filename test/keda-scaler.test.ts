import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Client,
  credentials,
  loadPackageDefinition,
  Metadata,
  status,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Queue, Worker } from 'bullmq';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runExporter } from '../src/cli/run-exporter.js';
import { instrumentWorker } from '../src/index.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import { CliProcess } from '../harness/cli-process.js';
import { kustomize } from '../harness/kustomize.js';
import { encodeScaledObjectRef, rawIsActive } from '../harness/raw-scaler-call.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { openTestQueue, uniqueQueueName } from '../harness/test-queue.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { testEnv } from '../harness/stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const logger = createLogger({ logLevel: 'silent' }, 'test');

describe('KEDA external scaler', () => {
  let redis: TestRedisServer;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse())
      await Promise.resolve(cleanup()).catch(() => undefined);
  });

  afterAll(async () => {
    await redis.stop();
  });

  const named = uniqueQueueName;

  async function scalerFor(queues: string[], env: Env = {}) {
    const config = loadConfig(
      await testEnv(redis, {
        QUEUE_NAME: queues[0],
        QUEUES: queues.join(','),
        HOST: '127.0.0.1',
        SAMPLE_TTL_MS: '0',
        ...env,
      }),
    );
    const exporter = await runExporter(config, logger);
    cleanups.push(() => exporter.close());
    const client = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
    cleanups.push(() => client.close());
    return { exporter, client, config };
  }

  function newQueue(name: string, prefix?: string) {
    const { queue, close } = openTestQueue(redis, name, prefix);
    cleanups.push(close);
    return queue;
  }

  /** Until `count` jobs of `queue` are active (10 s). */
  const untilActive = (queue: Queue, count: number) =>
    vi.waitFor(
      async () => {
        const { active } = await queue.getJobCounts('active');
        if (active < count) throw new Error(`jobs did not become active: ${active} of ${count}`);
      },
      { timeout: 10_000, interval: 20 },
    );

  /** A worker whose `count` jobs stay active until the test ends. */
  async function holdActive(queue: Queue, count: number) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    const worker = new Worker(queue.name, () => released, { connection, concurrency: count });
    cleanups.push(async () => {
      release();
      await worker.close();
      connection.disconnect();
    });
    await queue.addBulk(Array.from({ length: count }, () => ({ name: 'hold', data: {} })));
    await untilActive(queue, count);
  }

  function expectGrpcError(promise: Promise<unknown>, code: status, details: RegExp) {
    return expect(promise).rejects.toSatisfy((error: ServiceError) => {
      expect(error.code).toBe(code);
      expect(error.details).toMatch(details);
      return true;
    });
  }

  it('should answer GetMetricSpec deterministically, with both target fields, without touching Redis', async () => {
    const queue = named('spec_Queue.1');
    const { client } = await scalerFor([queue]);
    const meta = { queue, scalerAddress: 'qscale:6000', targetValue: '2.5' };
    const first = await client.getMetricSpec(meta);
    await redis.stop();
    try {
      const second = await client.getMetricSpec(meta);
      expect(second).toEqual(first);
    } finally {
      await redis.start();
    }
    expect(first.metricSpecs).toHaveLength(1);
    const spec = first.metricSpecs[0]!;
    expect(spec.metricName).toBe(`qscale-${queue.toLowerCase().replace(/[_.]/g, '-')}-backlog`);
    expect(spec.metricName).toMatch(/^[a-z0-9-]+$/);
    expect(spec.targetSize).toBe(3);
    expect(spec.targetSizeFloat).toBe(2.5);
    const defaults = await client.getMetricSpec({ queue, mode: 'workers' });
    expect(defaults.metricSpecs[0]).toMatchObject({ targetSize: 1, targetSizeFloat: 1 });
    expect((await client.getMetricSpec({ queue })).metricSpecs[0]).toMatchObject({
      targetSize: 10,
    });
  });

  it('should count waiting, prioritized, due delayed and active jobs in backlog mode, and paused ones', async () => {
    const name = named('backlog');
    const pausedName = named('paused');
    const queue = newQueue(name);
    const paused = newQueue(pausedName);
    const { client } = await scalerFor([name, pausedName]);
    await holdActive(queue, 2);
    await queue.add('plain', {});
    await queue.add('plain', {});
    await queue.add('urgent', {}, { priority: 3 });
    await queue.add('due', {}, { delay: 30 });
    await queue.add('far', {}, { delay: 3_600_000 });
    await paused.pause();
    await paused.addBulk(Array.from({ length: 3 }, () => ({ name: 'held', data: {} })));
    await sleep(200);

    const withActive = await client.getMetrics({ queue: name });
    expect(withActive.metricValues).toHaveLength(1);
    // 2 waiting + 1 prioritized + 1 delayed and due + 2 active; the job due in an hour is not work yet.
    expect(withActive.metricValues[0]).toMatchObject({
      metricName: `qscale-${name.replace('_', '-')}-backlog`,
      metricValue: 6,
      metricValueFloat: 6,
    });
    const withoutActive = await client.getMetrics({ queue: name, includeActive: 'false' });
    expect(withoutActive.metricValues[0]).toMatchObject({ metricValue: 4, metricValueFloat: 4 });
    expect((await client.getMetrics({ queue: pausedName })).metricValues[0]!.metricValue).toBe(3);
    expect((await client.isActive({ queue: name })).result).toBe(true);
    expect((await client.isActive({ queue: name, activationValue: '6' })).result).toBe(false);
    expect((await client.isActive({ queue: name, activationValue: '5.5' })).result).toBe(true);
  });

  it('should report the oldest job age in latency mode, rounded up in the int field', async () => {
    const name = named('latency');
    const queue = newQueue(name);
    const { client } = await scalerFor([name]);
    expect(
      (await client.getMetrics({ queue: name, mode: 'latency' })).metricValues[0],
    ).toMatchObject({
      metricValue: 0,
      metricValueFloat: 0,
    });
    await queue.add('old', {});
    await sleep(1300);
    await queue.add('young', {});
    const value = (await client.getMetrics({ queue: name, mode: 'latency' })).metricValues[0]!;
    expect(value.metricValueFloat).toBeGreaterThanOrEqual(1.3);
    expect(value.metricValueFloat).toBeLessThan(3);
    expect(value.metricValue).toBe(Math.ceil(value.metricValueFloat));
    expect(value.metricName).toMatch(/-latency$/);
  });

  it('should ask for the workers that bring the backlog under the wait objective in workers mode', async () => {
    const name = named('workers');
    const queue = newQueue(name);
    const { client } = await scalerFor([name]);
    expect(
      (await client.getMetrics({ queue: name, mode: 'workers' })).metricValues[0]!.metricValue,
    ).toBe(0);
    await queue.addBulk(Array.from({ length: 30 }, () => ({ name: 'j', data: {} })));
    // No job time known yet: one as long as the objective (30 s), so the 30 waiting jobs ask for
    // 30 slots at once (no worker yet: 1 slot each) instead of one worker to start learning.
    expect(
      (await client.getMetrics({ queue: name, mode: 'workers' })).metricValues[0]!.metricValue,
    ).toBe(30);
    expect(
      (await client.getMetrics({ queue: name, mode: 'workers', expectedJobSeconds: '3' }))
        .metricValues[0]!.metricValue,
    ).toBe(3);

    // Teach it a mean processing time of 2 s through the real telemetry path.
    const connection = redis.client();
    cleanups.push(() => connection.disconnect());
    const telemetry = new WorkerTelemetry(connection, new QueueKeys('bull', name), logger, {
      workerId: 'teacher',
      concurrency: 1,
      buckets: [1, 5],
    });
    for (let i = 0; i < 4; i++) telemetry.jobEnded({ status: 'completed', processingSeconds: 2 });
    await telemetry.close();

    // 30 jobs × 2 s within the default objective of 30 s = 2 slots; within 10 s = 6 slots;
    // 2 slots per worker → 3. (No arrival rate yet: 30 jobs at once are a backlog.)
    const value = async (meta: Record<string, string>) =>
      (await client.getMetrics({ queue: name, mode: 'workers', ...meta })).metricValues[0]!;
    expect(await value({ concurrency: '1' })).toMatchObject({
      metricValue: 2,
      metricValueFloat: 2,
    });
    expect(await value({ concurrency: '1', targetWaitSeconds: '10' })).toMatchObject({
      metricValue: 6,
    });
    expect(await value({ concurrency: '2', targetWaitSeconds: '10' })).toMatchObject({
      metricValue: 3,
    });
    // drainSeconds shorter than the objective drains the backlog faster; longer changes nothing.
    expect(await value({ concurrency: '1', drainSeconds: '10' })).toMatchObject({ metricValue: 6 });
    expect(await value({ concurrency: '1', drainSeconds: '600' })).toMatchObject({
      metricValue: 2,
    });
  });

  it('should keep 6 busy pods of 2 slots with the shipped keda overlay’s trigger (backlog 10 gave 2)', async () => {
    const name = named('overlay');
    const queue = newQueue(name);
    const { client } = await scalerFor([name]);
    // Six worker pods as the overlay runs them (WORKER_CONCURRENCY 2), each busy with 2 jobs.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    for (let i = 0; i < 6; i++) {
      const connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
      const worker = new Worker(name, () => released, {
        connection,
        concurrency: 2,
        autorun: false,
      });
      const telemetry = instrumentWorker(worker, { workerId: `pod-${i}`, logger });
      await telemetry.ready;
      void worker.run();
      cleanups.push(async () => {
        release();
        await worker.close();
        connection.disconnect();
      });
    }
    await queue.addBulk(Array.from({ length: 12 }, () => ({ name: 'file', data: {} })));
    await untilActive(queue, 12);
    const [scaledObject] = kustomize('k8s/overlays/keda').filter(ScaledObject.is);
    const shipped = { ...scaledObject!.spec.triggers[0]!.metadata, queue: name };
    const read = async (metadata: Record<string, string>) =>
      (await client.getMetrics(metadata)).metricValues[0]!.metricValue;
    // Until every worker's busy slots are reported (≥ 6), or the latest value after 6 s (the
    // former loop's 50 tries 100 ms apart plus the calls' own time; the test's expects say what
    // is off).
    const value = (metadata: Record<string, string>) =>
      vi
        .waitFor(
          async () => {
            const v = await read(metadata);
            if (v < 6) throw new Error(`not yet; value ${v}`);
            return v;
          },
          { timeout: 6000, interval: 100 },
        )
        .catch(() => read(metadata));
    // KEDA's AverageValue: the HPA asks for ceil(value / targetValue) replicas.
    const replicas = async (metadata: Record<string, string>) =>
      Math.ceil((await value(metadata)) / Number(metadata.targetValue));
    expect(await replicas(shipped)).toBeGreaterThanOrEqual(6);
    // The former default: ceil(12 / 10) = 2 replicas, 4 busy pods scaled in.
    expect(await replicas({ queue: name, mode: 'backlog', targetValue: '10' })).toBe(2);
  });

  it('should answer INVALID_ARGUMENT for bad metadata and NOT_FOUND for a queue it does not serve', async () => {
    const name = named('meta');
    const { client } = await scalerFor([name]);
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /"queue" is required/],
      [{ queue: name, mode: 'magic' }, /mode="magic".*one of backlog, latency, workers/],
      [{ queue: name, targetValue: '0' }, /targetValue="0".*from 0.001 to 1000000/],
      [{ queue: name, targetValue: 'Infinity' }, /targetValue="Infinity"/],
      [{ queue: name, targetValue: 'ten' }, /targetValue="ten"/],
      [{ queue: name, activationValue: '-1' }, /activationValue="-1".*from 0 to/],
      [{ queue: name, includeActive: 'maybe' }, /includeActive="maybe".*true or false/],
      [{ queue: name, drainSeconds: '0' }, /drainSeconds="0"/],
      // A value so small it would size for no time at all (1e-320 s), or a day and more.
      [{ queue: name, drainSeconds: '1e-320' }, /drainSeconds="1e-320".*from 0.1 to 86400 seconds/],
      [{ queue: name, targetWaitSeconds: '1e-320' }, /targetWaitSeconds="1e-320"/],
      [{ queue: name, targetWaitSeconds: '90000' }, /targetWaitSeconds="90000"/],
      [{ queue: name, expectedJobSeconds: '-3' }, /expectedJobSeconds="-3"/],
      [{ queue: name, concurrency: '100000' }, /concurrency="100000".*whole number/],
      // A long value is cut in the message.
      [{ queue: name, targetValue: 'x'.repeat(5000) }, /targetValue="x{64}"… \(5000 characters\)/],
      [{ queue: name, concurrency: '1.5' }, /concurrency="1.5"/],
    ];
    for (const [meta, details] of cases) {
      await expectGrpcError(client.getMetrics(meta), status.INVALID_ARGUMENT, details);
      await expectGrpcError(client.isActive(meta), status.INVALID_ARGUMENT, details);
      await expectGrpcError(client.getMetricSpec(meta), status.INVALID_ARGUMENT, details);
    }
    await expectGrpcError(client.getMetrics({ queue: 'other' }), status.NOT_FOUND, /not served/);
    await expectGrpcError(
      client.isActive({ queue: name, prefix: 'evil' }),
      status.NOT_FOUND,
      /prefix "evil"/,
    );
  });

  it('should serve a queue under its own prefix, addressed as bullmq:<prefix>/<name>', async () => {
    const name = named('addr');
    const other = newQueue(name, 'otherapp');
    await other.addBulk([
      { name: 'j', data: {} },
      { name: 'j', data: {} },
    ]);
    const { client } = await scalerFor([named('main'), `bullmq:otherapp/${name}`]);
    const value = async (meta: Record<string, string>) =>
      (await client.getMetrics(meta)).metricValues[0]!.metricValue;
    expect(await value({ queue: `bullmq:otherapp/${name}` })).toBe(2);
    expect(await value({ queue: name })).toBe(2);
    expect(await value({ queue: name, prefix: 'otherapp' })).toBe(2);
    await expectGrpcError(
      client.getMetrics({ queue: `bullmq:bull/${name}` }),
      status.NOT_FOUND,
      /bullmq:otherapp\//,
    );
  });

  it('should answer UNAVAILABLE, never 0, while Redis is down, and recover when it is back', async () => {
    const name = named('down');
    const queue = newQueue(name);
    await queue.add('j', {});
    const { client } = await scalerFor([name], { REDIS_TIMEOUT_MS: '500' });
    expect((await client.getMetrics({ queue: name })).metricValues[0]!.metricValue).toBe(1);
    await redis.stop();
    try {
      await expectGrpcError(client.getMetrics({ queue: name }), status.UNAVAILABLE, /Redis/);
      await expectGrpcError(client.isActive({ queue: name }), status.UNAVAILABLE, /Redis/);
    } finally {
      await redis.start();
    }
    // The test Redis keeps nothing across a restart: the queue is empty now, and says so.
    await expect
      .poll(async () => (await client.getMetrics({ queue: name })).metricValues[0]!.metricValue, {
        timeout: 10_000,
        interval: 100,
      })
      .toBe(0);
  });

  it('should push true on StreamIsActive within 500 ms of a job entering an empty queue, with one watcher per queue', async () => {
    const name = named('push');
    const queue = newQueue(name);
    const { client, exporter } = await scalerFor([name]);
    const open = () => {
      const received: { result: boolean; at: number }[] = [];
      const stream = client.client.StreamIsActive({
        name: 'so',
        namespace: 'ns',
        scalerMetadata: { queue: name },
      });
      stream.on('data', (message: { result: boolean }) =>
        received.push({ result: message.result, at: Date.now() }),
      );
      stream.on('error', () => undefined);
      return { stream, received };
    };
    const a = open();
    const b = open();
    const waitFor = (check: () => boolean, ms = 5000) =>
      vi.waitFor(
        () => {
          if (!check())
            throw new Error(
              `timed out after ${ms} ms; a got ${JSON.stringify(a.received)}, b got ` +
                `${JSON.stringify(b.received)}, ${exporter.watchers.size} watcher(s)`,
            );
        },
        { timeout: ms, interval: 10 },
      );
    // Each stream first gets the current state.
    await waitFor(() => a.received.length > 0 && b.received.length > 0);
    expect(a.received[0]!.result).toBe(false);
    expect(b.received[0]!.result).toBe(false);
    expect(exporter.watchers.size).toBe(1);

    await sleep(300);
    const enqueuedAt = Date.now();
    await queue.add('wake', {});
    await waitFor(() => a.received.some((m) => m.result) && b.received.some((m) => m.result));
    const latency = a.received.find((m) => m.result)!.at - enqueuedAt;
    expect(latency).toBeLessThan(500);

    a.stream.cancel();
    await sleep(100);
    expect(exporter.watchers.size).toBe(1);
    b.stream.cancel();
    await waitFor(() => exporter.watchers.size === 0);
    // Its blocking connection is gone too (this Redis is the test's own).
    const admin = redis.client();
    cleanups.push(() => admin.disconnect());
    await sleep(200);
    expect(String(await admin.client('LIST'))).not.toContain(`qscale:watch:${name}`);
  });

  it('should end open StreamIsActive streams with OK, not CANCELLED, when the sidecar stops', async () => {
    const name = named('shutdown');
    const { client, exporter } = await scalerFor([name]);
    const stream = client.client.StreamIsActive({ scalerMetadata: { queue: name } });
    const outcome = new Promise<{ code: number; ended: boolean }>((resolve) => {
      let ended = false;
      stream.on('data', () => undefined);
      stream.on('end', () => (ended = true));
      stream.on('error', (error: ServiceError) => resolve({ code: error.code, ended }));
      stream.on('status', (s: { code: number }) => resolve({ code: s.code, ended }));
    });
    await new Promise((resolve) => stream.once('data', resolve));
    const started = Date.now();
    await exporter.scaler.close();
    const { code } = await outcome;
    expect(code).toBe(status.OK);
    // Closed streams let the server shut down at once, without its 2 s forced shutdown.
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('should round a fractional targetValue up in the int64 targetSize, as the metric values are', async () => {
    const name = named('round');
    const { client } = await scalerFor([name]);
    const spec = await client.getMetricSpec({ queue: name, targetValue: '2.4' });
    expect(spec.metricSpecs[0]).toMatchObject({ targetSize: 3, targetSizeFloat: 2.4 });
    const small = await client.getMetricSpec({ queue: name, targetValue: '0.3' });
    expect(small.metricSpecs[0]).toMatchObject({ targetSize: 1, targetSizeFloat: 0.3 });
  });

  it('should refuse …FromEnv metadata with INVALID_ARGUMENT naming the key, instead of ignoring it', async () => {
    const name = named('fromenv');
    const lines: string[] = [];
    const config = loadConfig(
      await testEnv(redis, { QUEUE_NAME: name, QUEUES: name, HOST: '127.0.0.1' }),
    );
    const exporter = await runExporter(
      config,
      createLogger({ logLevel: 'warn' }, 'test', { write: (line: string) => lines.push(line) }),
    );
    cleanups.push(() => exporter.close());
    const client = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
    cleanups.push(() => client.close());
    const error = (await client
      .getMetrics({ queue: name, targetValueFromEnv: 'TARGET' })
      .catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain('targetValueFromEnv is not supported');
    expect(error.details).toContain('write targetValue itself');
    // The sidecar says so too, once for repeated calls.
    await client.getMetrics({ queue: name, targetValueFromEnv: 'TARGET' }).catch(() => undefined);
    const warnings = lines.filter((line) => line.includes('KEDA trigger rejected'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('targetValueFromEnv');
    // KEDA's own keys and unknown ones stay ignored.
    const fine = await client.getMetrics({
      queue: name,
      somethingFromEnv: 'X',
      scalerAddress: 'a:1',
    });
    expect(fine.metricValues).toHaveLength(1);
  });

  it('should reject a bad StreamIsActive request and answer UNIMPLEMENTED to StreamMetricSpec', async () => {
    const name = named('streams');
    const { client } = await scalerFor([name]);
    const failure = (stream: NodeJS.EventEmitter) =>
      new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    const bad = await failure(client.client.StreamIsActive({ scalerMetadata: { queue: 'nope' } }));
    expect(bad.code).toBe(status.NOT_FOUND);
    const spec = await failure(client.client.StreamMetricSpec({ scalerMetadata: { queue: name } }));
    expect(spec.code).toBe(status.UNIMPLEMENTED);
  });

  it('should read Redis once for many concurrent GetMetrics calls within SAMPLE_TTL_MS', async () => {
    const name = named('shared');
    newQueue(name).add('j', {});
    const { client } = await scalerFor([name], { SAMPLE_TTL_MS: '5000' });
    await client.getMetrics({ queue: name }); // warm: the script is loaded, the sample cached
    const admin = redis.client();
    cleanups.push(() => admin.disconnect());
    const evalshaCalls = async () =>
      Number(
        /cmdstat_evalsha:calls=(\d+)/.exec(String(await admin.info('commandstats')))?.[1] ?? 0,
      );
    await admin.config('RESETSTAT');
    const before = await evalshaCalls();
    await Promise.all(Array.from({ length: 50 }, () => client.getMetrics({ queue: name })));
    await Promise.all(Array.from({ length: 50 }, () => client.isActive({ queue: name })));
    expect((await evalshaCalls()) - before).toBe(0);
  });

  it('should serve the standard gRPC health service', async () => {
    const name = named('health');
    const { exporter } = await scalerFor([name]);
    const definition = loadSync(healthProtoPath, { keepCase: true, enums: String });
    const health = loadPackageDefinition(definition) as unknown as {
      grpc: {
        health: {
          v1: {
            Health: new (
              address: string,
              creds: unknown,
            ) => {
              Check(
                request: { service: string },
                cb: (error: Error | null, response: { status: string }) => void,
              ): void;
              close(): void;
            };
          };
        };
      };
    };
    const client = new health.grpc.health.v1.Health(
      `127.0.0.1:${exporter.scaler.port}`,
      credentials.createInsecure(),
    );
    cleanups.push(() => client.close());
    for (const service of ['', 'externalscaler.ExternalScaler']) {
      const response = await new Promise<{ status: string }>((resolve, reject) =>
        client.Check({ service }, (error, value) => (error ? reject(error) : resolve(value))),
      );
      expect(response.status).toBe('SERVING');
    }
  });

  describe('input limits', () => {
    /** A plain gRPC client that sends raw bytes of any size. */
    function rawClient(port: number) {
      const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
        'grpc.max_send_message_length': -1,
      });
      cleanups.push(() => client.close());
      return client;
    }

    it('should refuse a message or metadata larger than KEDA ever sends with RESOURCE_EXHAUSTED, and serve the next call', async () => {
      const name = named('big');
      const { exporter, client } = await scalerFor([name]);
      const raw = rawClient(exporter.scaler.port);
      // 6 000 keys: ~100 KB, a valid queue among them.
      const keys = Array.from({ length: 6000 }, (_, i): [string, string] => [`k${i}`, `v${i}`]);
      const big = encodeScaledObjectRef([['queue', name], ...keys]);
      expect(big.length).toBeGreaterThan(64 * 1024);
      const answer = await rawIsActive(raw, big, 10_000);
      expect(answer.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(answer.details).toMatch(/larger than max \(\d+ vs 65536\)/);
      // A message of KEDA's size on the same channel is answered.
      const small = await rawIsActive(raw, encodeScaledObjectRef([['queue', name]]), 10_000);
      expect(small.code).toBe(status.OK);
      expect((await client.isActive({ queue: name })).result).toBe(false);
      // Request headers (gRPC metadata) of 20 KB: refused before any handler runs.
      const headers = new Metadata();
      headers.set('x-padding', 'a'.repeat(20_000));
      const refused = await new Promise<ServiceError | null>((resolve) =>
        client.client.IsActive({ scalerMetadata: { queue: name } }, headers, (error) =>
          resolve(error),
        ),
      );
      expect(refused?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(refused?.details).toMatch(/request metadata of \d+ bytes is larger than 8192/);
    });

    it('should refuse more keys or longer values than a trigger has with INVALID_ARGUMENT, cut in the answer and the log', async () => {
      const name = named('limits');
      const lines: Record<string, unknown>[] = [];
      const recording = createLogger({ logLevel: 'warn' }, 'test', {
        write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
      });
      const config = loadConfig(
        await testEnv(redis, { QUEUE_NAME: name, HOST: '127.0.0.1', SAMPLE_TTL_MS: '0' }),
      );
      const exporter = await runExporter(config, recording);
      cleanups.push(() => exporter.close());
      const client = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
      cleanups.push(() => client.close());

      const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v']));
      await expectGrpcError(
        client.isActive({ queue: name, ...many }),
        status.INVALID_ARGUMENT,
        /has 101 keys; at most 64/,
      );
      await expectGrpcError(
        client.getMetrics({ queue: name, ['k'.repeat(500)]: 'v' }),
        status.INVALID_ARGUMENT,
        /key "k{64}"… \(500 characters\) is longer than 128/,
      );
      // A queue name of 30 000 characters: refused before it is looked up, and not sent back.
      const long = await client.getMetricSpec({ queue: 'q'.repeat(30_000) }).catch((e) => e);
      expect((long as ServiceError).code).toBe(status.INVALID_ARGUMENT);
      expect((long as ServiceError).details).toMatch(/queue="q{64}"… \(30000 characters\)/);
      expect((long as ServiceError).details.length).toBeLessThan(200);

      // 50 different rejected triggers: at most 20 lines a minute, none long.
      for (let i = 0; i < 50; i++) {
        await client
          .isActive({ queue: `not-served-${i}-${'x'.repeat(1000)}` })
          .catch(() => undefined);
      }
      const rejections = lines.filter((l) => String(l.msg).startsWith('KEDA trigger rejected'));
      expect(rejections.length).toBeGreaterThan(3);
      expect(rejections.length).toBeLessThanOrEqual(20);
      for (const line of lines) expect(JSON.stringify(line).length).toBeLessThan(2500);
    });

    it('should stay responsive to /healthz and other callers, with flat memory, while flooded with multi-MB calls', async () => {
      const name = named('flood');
      const env = await testEnv(redis, { QUEUE_NAME: name, HOST: '127.0.0.1', LOG_LEVEL: 'info' });
      const sidecar = new CliProcess(['exporter'], env);
      cleanups.push(() => sidecar.stop());
      const scaler = await sidecar.waitForLog((l) => l.msg === 'KEDA external scaler listening');
      const listening = await sidecar.waitForLog((l) =>
        String(l.msg).startsWith('exporter listening'),
      );
      const port = Number(scaler.kedaPort);
      const healthz = `${String(listening.url).replace('localhost', '127.0.0.1')}/healthz`;
      const rss = () =>
        Number(
          /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${sidecar.child.pid}/status`, 'utf8'))![1],
        ) / 1024;
      const good = new ScalerClient(`127.0.0.1:${port}`);
      cleanups.push(() => good.close());
      await good.getMetrics({ queue: name });
      const rssBefore = rss();

      // 20 calls in flight for 5 s, each a 3 MB map of 120 000 keys (as in issue 23).
      const flood = encodeScaledObjectRef([
        ['queue', name],
        ...Array.from({ length: 120_000 }, (_, i): [string, string] => [`key${i}`, `value${i}`]),
      ]);
      const raw = rawClient(port);
      const ends = Date.now() + 5000;
      const codes = new Map<number, number>();
      const flooding = Promise.all(
        Array.from({ length: 20 }, async () => {
          while (Date.now() < ends) {
            const { code } = await rawIsActive(raw, flood, 30_000);
            codes.set(code, (codes.get(code) ?? 0) + 1);
          }
        }),
      );
      const probe = async (every: number, run: () => Promise<unknown>) => {
        const times: number[] = [];
        while (Date.now() < ends) {
          const started = Date.now();
          await run();
          times.push(Date.now() - started);
          await sleep(every);
        }
        return times;
      };
      const [, health, calls] = await Promise.all([
        flooding,
        probe(100, async () => expect((await fetch(healthz)).status).toBe(200)),
        probe(200, () => good.getMetrics({ queue: name })),
      ]);
      await sleep(2000);
      const rssAfter = rss();
      console.info(
        `flood: ${[...codes].map(([c, n]) => `${n} × code ${c}`).join(', ')}; /healthz worst ${Math.max(...health)} ms, GetMetrics worst ${Math.max(...calls)} ms; RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB`,
      );
      expect([...codes.keys()]).toEqual([status.RESOURCE_EXHAUSTED]);
      // Generous bounds (a noisy shared machine): the flood costs the sidecar next to nothing.
      expect(Math.max(...health)).toBeLessThan(2000);
      expect(Math.max(...calls)).toBeLessThan(3000);
      expect(rssAfter - rssBefore).toBeLessThan(150);
    }, 60_000);
  });

  describe('TLS', () => {
    let dir: string;

    /** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with openssl. */
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'qscale-tls-'));
      const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
      const key = (name: string) =>
        ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
      key('ca');
      ssl(
        'req',
        '-x509',
        '-new',
        '-key',
        'ca.key',
        '-subj',
        '/CN=qscale test CA',
        '-days',
        '1',
        '-out',
        'ca.crt',
      );
      for (const [name, cn, ext] of [
        [
          'server',
          'localhost',
          'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth',
        ],
        ['client', 'keda', 'extendedKeyUsage=clientAuth'],
      ] as const) {
        key(name);
        await writeFile(join(dir, `${name}.ext`), `${ext}\n`);
        ssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
        ssl(
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-days',
          '1',
          '-extfile',
          `${name}.ext`,
          '-out',
          `${name}.crt`,
        );
      }
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const file = (name: string) => readFile(join(dir, name));

    it('should serve TLS with KEDA_TLS_CERT and KEDA_TLS_KEY', async () => {
      const name = named('tls');
      const { exporter } = await scalerFor([name], {
        KEDA_TLS_CERT: join(dir, 'server.crt'),
        KEDA_TLS_KEY: join(dir, 'server.key'),
      });
      expect(exporter.scaler.tls).toBe('tls');
      const secure = new ScalerClient(
        `127.0.0.1:${exporter.scaler.port}`,
        credentials.createSsl(await file('ca.crt')),
      );
      cleanups.push(() => secure.close());
      expect((await secure.isActive({ queue: name })).result).toBe(false);
      const plain = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
      cleanups.push(() => plain.close());
      await expect(plain.isActive({ queue: name })).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
    });

    it('should require and verify client certificates with KEDA_TLS_CA (mTLS)', async () => {
      const name = named('mtls');
      const { exporter } = await scalerFor([name], {
        KEDA_TLS_CERT: join(dir, 'server.crt'),
        KEDA_TLS_KEY: join(dir, 'server.key'),
        KEDA_TLS_CA: join(dir, 'ca.crt'),
      });
      expect(exporter.scaler.tls).toBe('mtls');
      const address = `127.0.0.1:${exporter.scaler.port}`;
      const withCert = new ScalerClient(
        address,
        credentials.createSsl(
          await file('ca.crt'),
          await file('client.key'),
          await file('client.crt'),
        ),
      );
      cleanups.push(() => withCert.close());
      expect((await withCert.getMetrics({ queue: name })).metricValues).toHaveLength(1);
      const withoutCert = new ScalerClient(address, credentials.createSsl(await file('ca.crt')));
      cleanups.push(() => withoutCert.close());
      await expect(withoutCert.getMetrics({ queue: name })).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
    });
  });
});
