import { Queue, Worker } from 'bullmq';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { autoscalingChecks } from '../src/doctor/autoscaling-checks.js';
import { runDoctor } from '../src/doctor/doctor.js';
import { kubernetesDoctorFindings } from '../src/doctor/kubernetes/doctor-findings.js';
import type { DoctorCheck } from '../src/doctor/doctor-check.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import { CliProcess, runCli } from '../harness/cli-process.js';
import { FakeEmbeddingServer } from '../harness/fake-embedding-server.js';
import { FakeKubeApi } from '../harness/fake-kube-api.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { queueSnapshot } from '../harness/snapshots.js';
import { createTestStack, testEnv } from '../harness/stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const find = (checks: DoctorCheck[], name: string) => {
  const check = checks.find((c) => c.name === name);
  if (!check) throw new Error(`no check named ${name}: ${checks.map((c) => c.name).join(', ')}`);
  return check;
};

describe('qscale doctor', () => {
  let redis: TestRedisServer;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await Promise.resolve(cleanup()).catch(() => undefined);
    }
  });

  afterAll(async () => {
    await redis.stop();
  });

  it('should pass every check on a healthy stack and exit 0', async () => {
    const stack = await createTestStack(redis);
    cleanups.push(() => stack.close());
    const upload = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('healthy'), 'ok.txt');
    await stack.waitForStatus(upload.body.id, 'completed');
    const report = await runDoctor(stack.config);
    expect(report.checks.filter((c) => c.status !== 'OK')).toEqual([]);
    expect(report.exitCode).toBe(0);
    expect(find(report.checks, 'maxmemory-policy').found).toBe('noeviction');
    expect(find(report.checks, 'live workers').found).toContain(stack.config.worker.id);
    expect(find(report.checks, 'cluster').found).toContain('skipped');

    const cli = await runCli(['doctor', '--json'], {
      REDIS_URL: redis.url,
      QUEUE_NAME: stack.config.queue.name,
      KUBECONFIG: '/nonexistent',
    });
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ status: 'OK', exitCode: 0 });
  });

  it('should fail with the fix when maxmemory-policy evicts keys, and exit 2', async () => {
    const admin = redis.client();
    cleanups.push(() => admin.disconnect());
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    cleanups.push(() => admin.config('SET', 'maxmemory-policy', 'noeviction'));
    const { code, stdout } = await runCli(['doctor'], {
      REDIS_URL: redis.url,
      QUEUE_NAME: `doctor_${Math.random().toString(36).slice(2, 8)}`,
      KUBECONFIG: '/nonexistent',
    });
    expect(code).toBe(2);
    expect(stdout).toMatch(/FAIL redis +maxmemory-policy: maxmemory-policy is allkeys-lru/);
    expect(stdout).toContain('CONFIG SET maxmemory-policy noeviction');
  });

  it('should warn about a worker stuck on one job far longer than the p99 processing time', async () => {
    const name = `stuck_${Math.random().toString(36).slice(2, 8)}`;
    const config = loadConfig(await testEnv(redis, { QUEUE_NAME: name }));
    const connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    const telemetry = new WorkerTelemetry(
      connection,
      new QueueKeys('bull', name),
      createLogger({ logLevel: 'silent' }, 'test'),
      {
        workerId: 'slowpoke',
        concurrency: 1,
        heartbeatSeconds: 1,
        buckets: config.metrics.buckets,
      },
    );
    let release!: () => void;
    const hang = new Promise<void>((resolve) => (release = resolve));
    const worker = new Worker(
      name,
      telemetry.instrument(async (job) => {
        if (job.name === 'hang') await hang;
        else await sleep(10);
      }),
      { connection, concurrency: 1 },
    );
    await telemetry.start();
    const queue = new Queue(name, { connection: redis.client() });
    cleanups.push(async () => {
      release();
      await worker.close();
      await telemetry.close();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    });
    await queue.addBulk(Array.from({ length: 5 }, () => ({ name: 'fast', data: {} })));
    await queue.add('hang', {});
    await sleep(2500); // p99 of the fast jobs is ≤ 50 ms; the hanging one runs ~2 s by now

    const report = await runDoctor(config, { stuckAfterSeconds: 1 });
    const stuck = find(report.checks, 'stuck workers');
    expect(stuck.status).toBe('WARN');
    expect(stuck.found).toMatch(/slowpoke has run one job for [12] s/);
    expect(report.exitCode).toBe(1);
  });

  it('should fail when jobs are active but their worker died, and report failed jobs of the last hour', async () => {
    const embeddings = await new FakeEmbeddingServer().start();
    cleanups.push(() => embeddings.stop());
    const stack = await createTestStack(redis, {}, { worker: false });
    cleanups.push(() => stack.close());
    const bad = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('{not json'), 'broken.json');
    const proc = new CliProcess(['worker'], {
      REDIS_URL: redis.url,
      QUEUE_NAME: stack.config.queue.name,
      UPLOAD_DIR: stack.uploadDir,
      WORKER_ID: 'doomed',
      HEARTBEAT_SECONDS: '1',
      EMBEDDING_PROVIDER: 'openai',
      EMBEDDING_URL: embeddings.url,
    });
    cleanups.push(() => proc.stop());
    await stack.waitForStatus(bad.body.id, 'failed', 20_000);
    embeddings.hold();
    const before = embeddings.requests;
    const held = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('stays active'), 'held.txt');
    await embeddings.waitForRequests(before + 1);
    expect((await stack.context.records.get(held.body.id))?.status).toBe('processing');
    proc.kill('SIGKILL');
    await proc.exited;
    await sleep(3500); // the heartbeat (TTL 3 × 1 s) expires; the job stays active

    const report = await runDoctor(stack.config);
    expect(find(report.checks, 'active jobs without a worker')).toMatchObject({
      status: 'FAIL',
      found: expect.stringContaining('1 active jobs but no live worker: their worker died'),
    });
    const failures = find(report.checks, 'failures (last hour)');
    expect(failures.status).toBe('WARN');
    expect(failures.found).toContain('1 jobs failed in the last hour');
    expect(failures.found).toContain('broken.json');
    expect(report.exitCode).toBe(2);
  });

  it('should count the workers of a plain BullMQ app without qscale telemetry from BullMQ’s registry, and exit 0', async () => {
    const name = `emails_${Math.random().toString(36).slice(2, 8)}`;
    const connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    cleanups.push(() => connection.disconnect());
    const queue = new Queue(name, { connection, prefix: 'myapp' });
    cleanups.push(() => queue.obliterate({ force: true }).then(() => queue.close()));
    await queue.addBulk(Array.from({ length: 5 }, (_, i) => ({ name: 'send', data: { i } })));
    // No qscale code in this worker: it holds one job and leaves the rest waiting.
    let release = () => {};
    const holding = new Promise<void>((resolve) => (release = resolve));
    const started = new Promise<void>((resolve) => {
      const worker = new Worker(
        name,
        async () => {
          resolve();
          await holding;
        },
        { connection, prefix: 'myapp', name: 'mailer-1', concurrency: 1 },
      );
      cleanups.push(() => worker.close(true));
    });
    cleanups.push(() => release());
    await started;

    const config = loadConfig(
      await testEnv(redis, { QUEUE_NAME: name, QUEUE_PREFIX: 'myapp', KUBECONFIG: '/nonexistent' }),
    );
    const report = await runDoctor(config);
    expect(find(report.checks, 'live workers')).toMatchObject({
      status: 'OK',
      found: expect.stringMatching(
        /^1 live \(BullMQ workers connected \(CLIENT LIST\).*: mailer-1$/,
      ),
    });
    expect(find(report.checks, 'active jobs without a worker')).toMatchObject({
      status: 'OK',
      found: '1 active jobs, 1 busy slots on 1 live workers',
    });
    expect(report.checks.filter((c) => c.status !== 'OK')).toEqual([]);
    expect(report.exitCode).toBe(0);
  });

  it('should fail when jobs wait with zero workers and the ScaledObject is not active (fake Kubernetes API)', async () => {
    // The Kubernetes API server cannot run here: FakeKubeApi answers with recorded-shape objects.
    const api = await new FakeKubeApi().start();
    cleanups.push(() => api.close());
    const base = '/apis/keda.sh/v1alpha1/namespaces/qscale/scaledobjects/qscale-worker';
    api.get('/apis/apps/v1/namespaces/qscale/deployments/qscale-worker', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'qscale-worker', namespace: 'qscale' },
      spec: { replicas: 0, selector: { matchLabels: { app: 'w' } }, template: {} },
      status: { replicas: 0, readyReplicas: 0 },
    });
    api.get(base, {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'qscale-worker', namespace: 'qscale' },
      spec: {
        scaleTargetRef: { name: 'qscale-worker' },
        triggers: [
          {
            type: 'external',
            metadata: { scalerAddress: 'x:6000', queue: 'file_processing', targetValue: '5000' },
          },
        ],
      },
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'ScaledObjectCheckFailed',
            message: 'scaler unreachable',
          },
          { type: 'Active', status: 'False' },
        ],
      },
    });
    const stack = await createTestStack(
      redis,
      { QUEUE_NAME: 'file_processing' },
      { worker: false },
    );
    cleanups.push(() => stack.close());
    await request(stack.app).post('/api/v1/files').attach('file', Buffer.from('waiting'), 'w.txt');
    const report = await runDoctor(stack.config, {
      kubernetes: () =>
        kubernetesDoctorFindings(api.kubeConfig('qscale'), 'qscale', {
          workerDeployment: 'qscale-worker',
          scaledObject: 'qscale-worker',
          exporterService: 'qscale-exporter',
        }),
    });
    expect(find(report.checks, 'scale from zero')).toMatchObject({
      status: 'FAIL',
      found: expect.stringContaining(
        'ScaledObject qscale-worker is not active: nothing will start a worker',
      ),
    });
    expect(find(report.checks, 'scaled-object').status).toBe('FAIL');
    expect(report.checks.some((c) => c.area === 'kubernetes' && c.status !== 'OK')).toBe(true);
    expect(report.exitCode).toBe(2);
    // The paths it read: the fake saw the real API paths.
    expect(api.requests.map((r) => r.path)).toEqual(expect.arrayContaining([base]));
  });

  it('should warn when a backlog targetValue gives each replica too much work', async () => {
    const snapshot = queueSnapshot();
    const scaledObject = {
      name: 'so',
      active: true,
      triggers: [{ type: 'external', metadata: { queue: 'q', targetValue: '100' } }],
    };
    // 100 jobs × 30 s / 1 slot = 3000 s of work per replica.
    const slow = autoscalingChecks(
      snapshot,
      { meanProcessingSeconds: 30 },
      { available: true, scaledObject },
    );
    expect(slow[0]).toMatchObject({ name: 'targetValue vs throughput', status: 'WARN' });
    expect(slow[0]!.fix).toContain('lower targetValue to about 20');
    const fast = autoscalingChecks(
      snapshot,
      { meanProcessingSeconds: 0.5 },
      { available: true, scaledObject },
    );
    expect(fast[0]!.status).toBe('OK');
  });

  it('should fail when Redis cannot be reached and exit 2', async () => {
    const port = await getPort({ host: '127.0.0.1' });
    const { code, stdout } = await runCli(['doctor'], {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      KUBECONFIG: '/nonexistent',
    });
    expect(code).toBe(2);
    expect(stdout).toMatch(/FAIL redis +reachable/);
  });
});
