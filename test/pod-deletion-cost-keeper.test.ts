import { Writable } from 'node:stream';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger, type Logger } from '../src/config/logger.js';
import { PodDeletionCostKeeper } from '../src/k8s/pod-deletion-cost-keeper.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import type { Sample, WorkerSnapshot } from '../src/queue/queue-snapshot.js';
import { ScalingSignals } from '../src/scaling/scaling-signals.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import { FakeKubeApi, statusBody, type RecordedRequest } from '../harness/fake-kube-api.js';
import { startRedisServer } from '../harness/redis-server.js';
import { queueSnapshot, workerSnapshot } from '../harness/snapshots.js';

const ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';
const podPath = (name: string) => `/api/v1/namespaces/qscale/pods/${name}`;
const costOf = (request: RecordedRequest) =>
  (JSON.parse(request.body) as { metadata: { annotations: Record<string, string> } }).metadata
    .annotations[ANNOTATION];

const worker = (id: string, busy: number) => workerSnapshot(id, busy);
const queue = (name: string, workers: WorkerSnapshot[]) => queueSnapshot({ queue: name, workers });

/**
 * A stand-in for ScalingSignals (our own read model, not infrastructure): it returns the busy slots
 * the test sets, as the sampler would read them from the workers' heartbeats.
 */
class StubSignals {
  busy = new Map<string, number>();
  failure?: Error;
  async read(): Promise<Sample> {
    if (this.failure) throw this.failure;
    const workers = [...this.busy].map(([id, busy]) => worker(id, busy));
    return { sampledAt: 0, durationSeconds: 0, queues: [queue('file_processing', workers)] };
  }
}

/** A pino logger whose lines the test can read. */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

describe('PodDeletionCostKeeper', () => {
  let api: FakeKubeApi;
  let signals: StubSignals;
  let now: number;
  let log: ReturnType<typeof capturingLogger>;
  const keepers: PodDeletionCostKeeper[] = [];

  function keeper(options: { intervalSeconds?: number; notFoundRetrySeconds?: number } = {}) {
    const made = new PodDeletionCostKeeper({
      signals,
      core: api.kubeConfig().makeApiClient(CoreV1Api),
      namespace: 'qscale',
      logger: log.logger,
      intervalSeconds: 10,
      now: () => now,
      ...options,
    });
    keepers.push(made);
    return made;
  }

  const patches = (name?: string) =>
    api.requests.filter(
      (r) => r.method === 'PATCH' && (name === undefined || r.path === podPath(name)),
    );
  const patched = { status: 200, body: { kind: 'Pod', apiVersion: 'v1', metadata: {} } };

  beforeEach(async () => {
    api = await new FakeKubeApi().start();
    signals = new StubSignals();
    now = 1_000_000;
    log = capturingLogger();
  });

  afterEach(async () => {
    await Promise.all(keepers.splice(0).map((k) => k.close()));
    await api.close();
  });

  it('should patch each worker pod with a JSON merge patch of the annotation alone', async () => {
    api.on('PATCH', podPath('qscale-worker-a'), patched);
    api.on('PATCH', podPath('qscale-worker-b'), patched);
    signals.busy.set('qscale-worker-a', 0).set('qscale-worker-b', 2);

    const round = await keeper().tick();

    expect(round).toEqual({ patched: 2, failed: 0, skipped: 0 });
    expect(patches().map((r) => r.path)).toEqual([
      podPath('qscale-worker-a'),
      podPath('qscale-worker-b'),
    ]);
    for (const request of patches()) {
      expect(request.headers['content-type']).toBe('application/merge-patch+json');
      expect(request.headers.authorization).toBe('Bearer t');
      expect(request.query.get('fieldManager')).toBe('qscale');
    }
    expect(JSON.parse(patches('qscale-worker-a')[0]!.body)).toEqual({
      metadata: { annotations: { [ANNOTATION]: '0' } },
    });
    expect(JSON.parse(patches('qscale-worker-b')[0]!.body)).toEqual({
      metadata: { annotations: { [ANNOTATION]: '2' } },
    });
  });

  it('should not patch a pod again while its cost stays the same', async () => {
    api.on('PATCH', podPath('qscale-worker-a'), patched);
    signals.busy.set('qscale-worker-a', 1);
    const subject = keeper();

    await subject.tick();
    now += 60_000;
    const again = await subject.tick();

    expect(again).toEqual({ patched: 0, failed: 0, skipped: 1 });
    expect(patches()).toHaveLength(1);
  });

  it('should write a cost that changed within the interval only once the interval has passed', async () => {
    api.on('PATCH', podPath('qscale-worker-a'), patched);
    signals.busy.set('qscale-worker-a', 0);
    const subject = keeper({ intervalSeconds: 10 });
    await subject.tick();

    signals.busy.set('qscale-worker-a', 1);
    now += 5_000;
    await subject.tick();
    expect(patches().map(costOf)).toEqual(['0']);

    signals.busy.set('qscale-worker-a', 2);
    now += 5_000;
    await subject.tick();
    // The latest cost, not every value in between.
    expect(patches().map(costOf)).toEqual(['0', '2']);
  });

  it('should leave a worker that is not a pod (404) alone for a while, then try again', async () => {
    api.on('PATCH', podPath('qscale-worker-a'), patched);
    signals.busy.set('laptop-1234', 1).set('qscale-worker-a', 1);
    const subject = keeper({ intervalSeconds: 10, notFoundRetrySeconds: 300 });

    expect(await subject.tick()).toEqual({ patched: 1, failed: 1, skipped: 0 });
    signals.busy.set('laptop-1234', 2).set('qscale-worker-a', 2);
    now += 10_000;
    await subject.tick();
    expect(patches('laptop-1234')).toHaveLength(1);
    expect(patches('qscale-worker-a')).toHaveLength(2);

    now += 300_000;
    await subject.tick();
    expect(patches('laptop-1234')).toHaveLength(2);
    expect(log.lines).toContainEqual(
      expect.objectContaining({ pod: 'laptop-1234', msg: expect.stringMatching(/404/) }),
    );
  });

  it('should never send worker ids that cannot be pod names', async () => {
    signals.busy.set('MyLaptop-1234', 1).set('host:worker', 0);

    expect(await keeper().tick()).toEqual({ patched: 0, failed: 0, skipped: 2 });
    expect(api.requests).toEqual([]);
  });

  it('should log 403 and 409 as warnings, keep going, and retry them on a later round', async () => {
    let forbidden = true;
    api.on('PATCH', podPath('qscale-worker-a'), () =>
      forbidden
        ? {
            status: 403,
            body: statusBody(
              403,
              'Forbidden',
              'pods "qscale-worker-a" is forbidden: User "system:serviceaccount:qscale:default" cannot patch resource "pods" in API group "" in the namespace "qscale"',
            ),
          }
        : patched,
    );
    let conflicts = 1;
    api.on('PATCH', podPath('qscale-worker-b'), () =>
      conflicts-- > 0
        ? {
            status: 409,
            body: statusBody(409, 'Conflict', 'Operation cannot be fulfilled on pods'),
          }
        : patched,
    );
    signals.busy.set('qscale-worker-a', 1).set('qscale-worker-b', 0);
    const subject = keeper({ intervalSeconds: 10 });

    expect(await subject.tick()).toEqual({ patched: 0, failed: 2, skipped: 0 });
    const warnings = log.lines.filter((line) => line.level === 40);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          pod: 'qscale-worker-a',
          status: 403,
          msg: expect.stringMatching(/forbidden.*grant "patch" on pods in namespace qscale/),
        }),
        expect.objectContaining({ pod: 'qscale-worker-b', status: 409 }),
      ]),
    );

    // Not before the interval is over: one patch per pod per interval, failed or not.
    now += 1_000;
    await subject.tick();
    expect(patches()).toHaveLength(2);

    // The same 403 again is not repeated at warn level.
    now += 10_000;
    expect(await subject.tick()).toEqual({ patched: 1, failed: 1, skipped: 0 });
    expect(log.lines.filter((line) => line.level === 40)).toHaveLength(2);

    forbidden = false;
    now += 10_000;
    expect(await subject.tick()).toEqual({ patched: 1, failed: 0, skipped: 1 });
    expect(patches('qscale-worker-a').map(costOf)).toEqual(['1', '1', '1']);
    expect(patches('qscale-worker-b').map(costOf)).toEqual(['0', '0']);
  });

  it('should give up on a request the API server does not answer, and keep going', async () => {
    api.on('PATCH', podPath('qscale-worker-a'), 'hang');
    signals.busy.set('qscale-worker-a', 1);
    const subject = new PodDeletionCostKeeper({
      signals,
      core: api.kubeConfig().makeApiClient(CoreV1Api),
      namespace: 'qscale',
      logger: log.logger,
      requestTimeoutMs: 200,
      now: () => now,
    });
    keepers.push(subject);

    expect(await subject.tick()).toEqual({ patched: 0, failed: 1, skipped: 0 });
  });

  it('should send identical patches from two keepers (exporter replicas) at once', async () => {
    api.on('PATCH', podPath('qscale-worker-a'), patched);
    api.on('PATCH', podPath('qscale-worker-b'), patched);
    signals.busy.set('qscale-worker-a', 3).set('qscale-worker-b', 0);

    await Promise.all([keeper().tick(), keeper().tick()]);

    for (const name of ['qscale-worker-a', 'qscale-worker-b']) {
      const sent = patches(name).map((r) => ({
        body: r.body,
        contentType: r.headers['content-type'],
      }));
      expect(sent).toHaveLength(2);
      expect(sent[0]).toEqual(sent[1]);
    }
  });

  it('should run rounds by itself after start() and stop for good after close()', async () => {
    api.on('PATCH', podPath('qscale-worker-a'), patched);
    signals.busy.set('qscale-worker-a', 0);
    const subject = new PodDeletionCostKeeper({
      signals,
      core: api.kubeConfig().makeApiClient(CoreV1Api),
      namespace: 'qscale',
      logger: log.logger,
      intervalSeconds: 0.05,
    });
    keepers.push(subject);

    subject.start();
    subject.start();
    await expect.poll(() => patches().length).toBe(1);
    signals.busy.set('qscale-worker-a', 1);
    await expect.poll(() => patches().length).toBe(2);
    await subject.close();
    await subject.close();
    signals.busy.set('qscale-worker-a', 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(patches().map(costOf)).toEqual(['0', '1']);
    expect(await subject.tick()).toEqual({ patched: 0, failed: 0, skipped: 0 });
  });

  it('should log a round whose sample cannot be read, and try again on the next', async () => {
    signals.failure = new Error('Redis is down');
    const subject = new PodDeletionCostKeeper({
      signals,
      core: api.kubeConfig().makeApiClient(CoreV1Api),
      namespace: 'qscale',
      logger: log.logger,
      intervalSeconds: 0.05,
    });
    keepers.push(subject);

    subject.start();
    await expect
      .poll(() => log.lines.filter((l) => l.msg === 'pod deletion cost round failed').length)
      .toBeGreaterThanOrEqual(2);
    api.on('PATCH', podPath('qscale-worker-a'), patched);
    signals.busy.set('qscale-worker-a', 0);
    signals.failure = undefined;
    await expect.poll(() => patches().length).toBe(1);
  });

  it('should refuse a namespace that is no namespace name, and a bad interval at start-up', () => {
    const base = {
      signals,
      core: api.kubeConfig().makeApiClient(CoreV1Api),
      namespace: 'qscale',
      logger: log.logger,
    };
    // The namespace may come from the service account or the kubeconfig: the keeper checks it.
    expect(() => new PodDeletionCostKeeper({ ...base, namespace: 'Not/A/Namespace' })).toThrow(
      /namespace/,
    );
    // The interval comes from the checked config: loadConfig is where it is refused.
    expect(() => loadConfig({ POD_DELETION_COST_INTERVAL_SECONDS: '0' })).toThrow(
      'POD_DELETION_COST_INTERVAL_SECONDS="0": must be a whole number from 1 to 3600',
    );
  });

  it('should patch the costs that real worker heartbeats report through ScalingSignals', async () => {
    const redis = await startRedisServer();
    const client = redis.client();
    const keys = new QueueKeys('bull', `q${Math.random()}`.replace('.', ''));
    const quiet = createLogger({ logLevel: 'silent' }, 'test');
    const telemetry = ['qscale-worker-idle', 'qscale-worker-busy'].map(
      (workerId) =>
        new WorkerTelemetry(client, keys, quiet, { workerId, concurrency: 2, buckets: [1, 10] }),
    );
    try {
      api.on('PATCH', podPath('qscale-worker-idle'), patched);
      api.on('PATCH', podPath('qscale-worker-busy'), patched);
      telemetry[1]!.jobStarted();
      telemetry[1]!.jobStarted();
      await Promise.all(telemetry.map((t) => t.heartbeat()));
      const real = new ScalingSignals(new QueueSampler(client, keys, { ttlMs: 0 }), 60);
      const subject = new PodDeletionCostKeeper({
        signals: real,
        core: api.kubeConfig().makeApiClient(CoreV1Api),
        namespace: 'qscale',
        logger: quiet,
      });
      keepers.push(subject);

      expect(await subject.tick()).toEqual({ patched: 2, failed: 0, skipped: 0 });
      expect(patches('qscale-worker-idle').map(costOf)).toEqual(['0']);
      expect(patches('qscale-worker-busy').map(costOf)).toEqual(['2']);
    } finally {
      await Promise.all(telemetry.map((t) => t.close()));
      client.disconnect();
      await redis.stop();
    }
  });
});
