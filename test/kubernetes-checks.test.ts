import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DoctorCheck } from '../src/doctor/doctor-check.js';
import { kubernetesChecks } from '../src/doctor/kubernetes/kubernetes-checks.js';
import { FakeKubeApi, statusBody } from '../harness/fake-kube-api.js';

// The objects below have the shapes a real API server returns (trimmed to the fields the checks
// read plus their neighbours), as recorded with `kubectl get -o json` on a cluster running
// k8s/overlays/keda.

const NS = '/api/v1/namespaces/qscale';
const PATHS = {
  deployment: '/apis/apps/v1/namespaces/qscale/deployments/qscale-worker',
  pods: `${NS}/pods`,
  scaledObject: '/apis/keda.sh/v1alpha1/namespaces/qscale/scaledobjects/qscale-worker',
  hpas: '/apis/autoscaling/v2/namespaces/qscale/horizontalpodautoscalers',
  service: `${NS}/services/qscale-exporter`,
  slices: '/apis/discovery.k8s.io/v1/namespaces/qscale/endpointslices',
};
const NAMES = {
  workerDeployment: 'qscale-worker',
  scaledObject: 'qscale-worker',
  exporterService: 'qscale-exporter',
};
const WORKER_LABELS = {
  'app.kubernetes.io/name': 'qscale',
  'app.kubernetes.io/component': 'worker',
};

function deployment(replicas: number, readyReplicas: number | undefined) {
  return {
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    metadata: { name: 'qscale-worker', namespace: 'qscale', generation: 4 },
    spec: {
      replicas,
      selector: { matchLabels: WORKER_LABELS },
      template: { metadata: { labels: { ...WORKER_LABELS, 'qscale.io/worker': 'true' } } },
    },
    status: {
      observedGeneration: 4,
      replicas,
      updatedReplicas: replicas,
      ...(readyReplicas !== undefined && { readyReplicas, availableReplicas: readyReplicas }),
      ...(readyReplicas !== replicas && { unavailableReplicas: replicas - (readyReplicas ?? 0) }),
    },
  };
}

type PodState = 'ready' | 'crashloop' | 'pending' | 'terminating';

function pod(name: string, state: PodState, restartCount = 0) {
  const ready = state === 'ready' || state === 'terminating';
  return {
    metadata: {
      name,
      namespace: 'qscale',
      labels: { ...WORKER_LABELS, 'pod-template-hash': '7d4b9c' },
      ...(state === 'terminating' && {
        deletionTimestamp: '2025-05-01T10:00:00Z',
        deletionGracePeriodSeconds: 630,
      }),
    },
    spec: { containers: [{ name: 'worker', image: 'ghcr.io/qscale/qscale:0.1.0' }] },
    status: {
      phase: state === 'pending' ? 'Pending' : 'Running',
      conditions:
        state === 'pending'
          ? [
              {
                type: 'PodScheduled',
                status: 'False',
                reason: 'Unschedulable',
                message: '0/3 nodes are available: 3 Insufficient memory.',
              },
            ]
          : [
              { type: 'PodScheduled', status: 'True' },
              { type: 'Initialized', status: 'True' },
              {
                type: 'ContainersReady',
                status: ready ? 'True' : 'False',
              },
              {
                type: 'Ready',
                status: ready ? 'True' : 'False',
                ...(!ready && { reason: 'ContainersNotReady' }),
              },
            ],
      ...(state !== 'pending' && {
        containerStatuses: [
          {
            name: 'worker',
            image: 'ghcr.io/qscale/qscale:0.1.0',
            imageID: 'ghcr.io/qscale/qscale@sha256:0123',
            ready,
            started: ready,
            restartCount,
            state:
              state === 'crashloop'
                ? {
                    waiting: {
                      reason: 'CrashLoopBackOff',
                      message: 'back-off 5m0s restarting failed container',
                    },
                  }
                : { running: { startedAt: '2025-05-01T09:00:00Z' } },
            ...(restartCount > 0 && {
              lastState: {
                terminated: {
                  exitCode: 137,
                  reason: 'OOMKilled',
                  startedAt: '2025-05-01T09:50:00Z',
                  finishedAt: '2025-05-01T09:55:00Z',
                },
              },
            }),
          },
        ],
      }),
    },
  };
}

const podList = (...items: unknown[]) => ({
  kind: 'PodList',
  apiVersion: 'v1',
  metadata: {},
  items,
});

type Cond = { type: string; status: string; reason?: string; message?: string };

function scaledObject(conditions: Cond[]) {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'qscale-worker', namespace: 'qscale' },
    spec: {
      scaleTargetRef: { name: 'qscale-worker' },
      minReplicaCount: 0,
      maxReplicaCount: 20,
      triggers: [{ type: 'external', metadata: { scalerAddress: 'x:6000' } }],
    },
    status: {
      conditions,
      externalMetricNames: ['s0-qscale-file_processing'],
      hpaName: 'keda-hpa-qscale-worker',
      originalReplicaCount: 2,
      scaleTargetKind: 'apps/v1.Deployment',
    },
  };
}

const HEALTHY_SO: Cond[] = [
  {
    type: 'Ready',
    status: 'True',
    reason: 'ScaledObjectReady',
    message: 'ScaledObject is defined correctly and is ready for scaling',
  },
  {
    type: 'Active',
    status: 'True',
    reason: 'ScalerActive',
    message: 'Scaling is performed because triggers are active',
  },
  {
    type: 'Fallback',
    status: 'False',
    reason: 'NoFallbackFound',
    message: 'No fallbacks are active on this scaled object',
  },
  { type: 'Paused', status: 'Unknown' },
];

function hpa(
  name: string,
  target: string,
  replicas: { current: number; desired: number },
  conditions: Cond[],
) {
  return {
    metadata: { name, namespace: 'qscale' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
      minReplicas: 1,
      maxReplicas: 20,
      metrics: [],
    },
    status: {
      currentReplicas: replicas.current,
      desiredReplicas: replicas.desired,
      conditions: conditions.map((c) => ({ ...c, lastTransitionTime: '2025-05-01T09:00:00Z' })),
    },
  };
}

const HEALTHY_HPA: Cond[] = [
  {
    type: 'AbleToScale',
    status: 'True',
    reason: 'ReadyForNewScale',
    message: 'recommended size matches current size',
  },
  {
    type: 'ScalingActive',
    status: 'True',
    reason: 'ValidMetricFound',
    message:
      'the HPA was able to successfully calculate a replica count from external metric s0-qscale-file_processing',
  },
  {
    type: 'ScalingLimited',
    status: 'False',
    reason: 'DesiredWithinRange',
    message: 'the desired count is within the acceptable range',
  },
];

const hpaList = (...items: unknown[]) => ({
  kind: 'HorizontalPodAutoscalerList',
  apiVersion: 'autoscaling/v2',
  metadata: {},
  items,
});

const APP_HPA = hpa('qscale-app', 'qscale-app', { current: 1, desired: 1 }, HEALTHY_HPA);

const service = {
  kind: 'Service',
  apiVersion: 'v1',
  metadata: { name: 'qscale-exporter', namespace: 'qscale' },
  spec: {
    selector: { 'app.kubernetes.io/name': 'qscale', 'qscale.io/exporter': 'true' },
    ports: [{ name: 'grpc', port: 6000, targetPort: 'grpc', protocol: 'TCP' }],
    clusterIP: '10.96.12.34',
    type: 'ClusterIP',
  },
};

function slices(endpoints: { pod: string; ip: string; ready: boolean }[]) {
  return {
    kind: 'EndpointSliceList',
    apiVersion: 'discovery.k8s.io/v1',
    metadata: {},
    items: [
      {
        metadata: {
          name: 'qscale-exporter-x7k2p',
          namespace: 'qscale',
          labels: {
            'kubernetes.io/service-name': 'qscale-exporter',
            'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
          },
        },
        addressType: 'IPv4',
        endpoints: endpoints.map((e) => ({
          addresses: [e.ip],
          conditions: { ready: e.ready, serving: e.ready, terminating: false },
          nodeName: 'node-1',
          targetRef: { kind: 'Pod', namespace: 'qscale', name: e.pod, uid: `uid-${e.pod}` },
        })),
        ports: [{ name: 'grpc', port: 6000, protocol: 'TCP' }],
      },
    ],
  };
}

const byName = (checks: DoctorCheck[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

describe('kubernetesChecks', () => {
  let api: FakeKubeApi;

  beforeEach(async () => {
    api = await new FakeKubeApi().start();
  });

  afterEach(async () => {
    await api.close();
  });

  const run = (names: Parameters<typeof kubernetesChecks>[2] = NAMES) =>
    kubernetesChecks(api.kubeConfig(), 'qscale', names, { requestTimeoutMs: 2000 });

  it('should find a healthy KEDA-scaled cluster healthy', async () => {
    api
      .get(PATHS.deployment, deployment(3, 3))
      .get(
        PATHS.pods,
        podList(
          pod('qscale-worker-7d4b9c-a', 'ready'),
          pod('qscale-worker-7d4b9c-b', 'ready', 1),
          pod('qscale-worker-7d4b9c-c', 'ready'),
          // Scale-down in progress: a draining pod is neither counted nor a problem.
          pod('qscale-worker-7d4b9c-d', 'terminating'),
        ),
      )
      .get(PATHS.scaledObject, scaledObject(HEALTHY_SO))
      .get(
        PATHS.hpas,
        hpaList(
          APP_HPA,
          hpa('keda-hpa-qscale-worker', 'qscale-worker', { current: 3, desired: 3 }, HEALTHY_HPA),
        ),
      )
      .get(PATHS.service, service)
      .get(
        PATHS.slices,
        slices([
          { pod: 'qscale-exporter-5f6d-a', ip: '10.244.1.7', ready: true },
          { pod: 'qscale-exporter-5f6d-b', ip: '10.244.2.9', ready: true },
        ]),
      );

    const checks = await run();

    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['worker-deployment', 'OK'],
      ['worker-pods', 'OK'],
      ['scaled-object', 'OK'],
      ['hpa', 'OK'],
      ['exporter-endpoints', 'OK'],
    ]);
    for (const check of checks) expect(check.area).toBe('kubernetes');
    const found = byName(checks);
    expect(found['worker-deployment']!.found).toMatch(/3 of 3 replicas ready/);
    expect(found['worker-pods']!.found).toMatch(/3 worker pods, all ready.*1 more terminating/);
    expect(found['scaled-object']!.found).toMatch(/ready, active/);
    expect(found.hpa!.found).toMatch(/keda-hpa-qscale-worker: 3 current \/ 3 desired/);
    expect(found['exporter-endpoints']!.found).toMatch(/2 ready endpoints/);
    // The pods and slices are looked up by label, as kubectl -l would.
    const query = (path: string) => api.requests.find((r) => r.path === path)!.query;
    expect(query(PATHS.pods).get('labelSelector')).toBe(
      'app.kubernetes.io/name=qscale,app.kubernetes.io/component=worker',
    );
    expect(query(PATHS.slices).get('labelSelector')).toBe(
      'kubernetes.io/service-name=qscale-exporter',
    );
    expect(api.requests.every((r) => r.headers.authorization === 'Bearer t')).toBe(true);
  });

  it('should fail a cluster whose workers, ScaledObject and exporter are down, saying why', async () => {
    api
      .get(PATHS.deployment, deployment(3, undefined))
      .get(
        PATHS.pods,
        podList(
          pod('qscale-worker-7d4b9c-a', 'crashloop', 7),
          pod('qscale-worker-7d4b9c-b', 'pending'),
          pod('qscale-worker-7d4b9c-c', 'crashloop', 2),
        ),
      )
      .get(
        PATHS.scaledObject,
        scaledObject([
          {
            type: 'Ready',
            status: 'False',
            reason: 'ScaledObjectCheckFailed',
            message:
              'error establishing external scaler connection: dial tcp 10.96.12.34:6000: connect: connection refused',
          },
          { type: 'Active', status: 'False', reason: 'ScalerNotActive' },
          {
            type: 'Fallback',
            status: 'True',
            reason: 'FallbackExists',
            message: 'At least one trigger is falling back on this scaled object',
          },
        ]),
      )
      .get(
        PATHS.hpas,
        hpaList(
          hpa('keda-hpa-qscale-worker', 'qscale-worker', { current: 3, desired: 3 }, [
            HEALTHY_HPA[0]!,
            {
              type: 'ScalingActive',
              status: 'False',
              reason: 'FailedGetExternalMetric',
              message:
                'the HPA was unable to compute the replica count: unable to get external metric qscale/s0-qscale-file_processing: no metrics returned from external metrics API',
            },
          ]),
        ),
      )
      .get(PATHS.service, service)
      .get(
        PATHS.slices,
        slices([{ pod: 'qscale-exporter-5f6d-a', ip: '10.244.1.7', ready: false }]),
      );

    const found = byName(await run());

    expect(found['worker-deployment']).toMatchObject({
      status: 'FAIL',
      found: expect.stringMatching(/0 of 3 replicas ready/),
      fix: expect.stringContaining('kubectl -n qscale describe deployment qscale-worker'),
    });
    expect(found['worker-pods']).toMatchObject({
      status: 'WARN',
      found: expect.stringMatching(
        /not ready: qscale-worker-7d4b9c-a \(CrashLoopBackOff\), qscale-worker-7d4b9c-b \(Pending: Unschedulable\), qscale-worker-7d4b9c-c \(CrashLoopBackOff\).*restarting: qscale-worker-7d4b9c-a \(7 restarts, last OOMKilled\)$/,
      ),
      fix: expect.stringContaining('kubectl -n qscale logs qscale-worker-7d4b9c-a --previous'),
    });
    expect(found['worker-pods']!.found).not.toMatch(/7d4b9c-c \(2 restarts/);
    expect(found['scaled-object']).toMatchObject({
      status: 'FAIL',
      found: expect.stringContaining('connection refused'),
      fix: expect.stringContaining('kubectl -n qscale describe scaledobject qscale-worker'),
    });
    expect(found.hpa).toMatchObject({
      status: 'WARN',
      found: expect.stringMatching(/FailedGetExternalMetric.*no metrics returned/),
      fix: 'kubectl -n qscale describe hpa keda-hpa-qscale-worker',
    });
    expect(found['exporter-endpoints']).toMatchObject({
      status: 'FAIL',
      found: expect.stringMatching(/no ready endpoint \(not ready: qscale-exporter-5f6d-a\)/),
      fix: expect.stringContaining(
        'kubectl -n qscale get pods -l app.kubernetes.io/name=qscale,qscale.io/exporter=true',
      ),
    });
  });

  it('should warn about a degraded cluster: replicas short, fallback, HPA at its maximum', async () => {
    api
      .get(PATHS.deployment, deployment(3, 2))
      .get(PATHS.pods, podList(pod('qscale-worker-a', 'ready'), pod('qscale-worker-b', 'ready')))
      .get(
        PATHS.scaledObject,
        scaledObject([
          HEALTHY_SO[0]!,
          HEALTHY_SO[1]!,
          {
            type: 'Fallback',
            status: 'True',
            reason: 'FallbackExists',
            message: 'At least one trigger is falling back on this scaled object',
          },
        ]),
      )
      .get(
        PATHS.hpas,
        hpaList(
          hpa('keda-hpa-qscale-worker', 'qscale-worker', { current: 20, desired: 20 }, [
            HEALTHY_HPA[0]!,
            HEALTHY_HPA[1]!,
            {
              type: 'ScalingLimited',
              status: 'True',
              reason: 'TooManyReplicas',
              message: 'the desired replica count is more than the maximum replica count',
            },
          ]),
        ),
      )
      .get(PATHS.service, service)
      .get(
        PATHS.slices,
        slices([
          { pod: 'qscale-exporter-5f6d-a', ip: '10.244.1.7', ready: true },
          { pod: 'qscale-exporter-5f6d-b', ip: '10.244.2.9', ready: false },
        ]),
      );

    const found = byName(await run());

    expect(found['worker-deployment']).toMatchObject({
      status: 'WARN',
      found: expect.stringMatching(/2 of 3/),
    });
    expect(found['worker-pods']!.status).toBe('OK');
    expect(found['scaled-object']).toMatchObject({
      status: 'WARN',
      found: expect.stringMatching(/fallback.*At least one trigger is falling back/),
    });
    expect(found.hpa).toMatchObject({
      status: 'WARN',
      found: expect.stringMatching(/more than maxReplicas.*TooManyReplicas.*20 current/),
    });
    expect(found['exporter-endpoints']).toMatchObject({
      status: 'WARN',
      found: expect.stringMatching(/1 ready.*1 not ready \(qscale-exporter-5f6d-b\)/),
    });
  });

  it('should fail an HPA that cannot scale its target', async () => {
    api
      .get(PATHS.deployment, deployment(2, 2))
      .get(PATHS.pods, podList())
      .get(
        PATHS.hpas,
        hpaList(
          hpa('qscale-worker', 'qscale-worker', { current: 2, desired: 2 }, [
            {
              type: 'AbleToScale',
              status: 'False',
              reason: 'FailedGetScale',
              message:
                'the HPA controller was unable to get the target\'s current scale: deployments/scale.apps "qscale-worker" is forbidden',
            },
          ]),
        ),
      )
      .get(PATHS.service, service)
      .get(PATHS.slices, slices([{ pod: 'e', ip: '10.0.0.1', ready: true }]));

    const found = byName(await run());

    expect(found.hpa).toMatchObject({
      status: 'FAIL',
      found: expect.stringMatching(/cannot scale: AbleToScale=False \(FailedGetScale\)/),
    });
  });

  it('should say OK, not used, when there is no ScaledObject or worker HPA', async () => {
    api
      .get(PATHS.deployment, deployment(2, 2))
      .get(PATHS.pods, podList(pod('qscale-worker-a', 'ready'), pod('qscale-worker-b', 'ready')))
      .get(PATHS.hpas, hpaList(APP_HPA))
      .get(PATHS.service, service)
      .get(PATHS.slices, slices([{ pod: 'e', ip: '10.0.0.1', ready: true }]));

    const found = byName(await run());

    expect(found['scaled-object']).toMatchObject({
      status: 'OK',
      found: expect.stringMatching(/^not used/),
    });
    expect(found.hpa).toMatchObject({ status: 'OK', found: expect.stringMatching(/^not used/) });
  });

  it('should read an HPA named explicitly, and call a missing one not used', async () => {
    api
      .get(PATHS.deployment, deployment(2, 2))
      .get(PATHS.pods, podList())
      .get(
        `${PATHS.hpas}/workers`,
        hpa('workers', 'qscale-worker', { current: 2, desired: 4 }, HEALTHY_HPA),
      )
      .get(PATHS.service, service)
      .get(PATHS.slices, slices([{ pod: 'e', ip: '10.0.0.1', ready: true }]));

    expect(byName(await run({ ...NAMES, hpa: 'workers' })).hpa).toMatchObject({
      status: 'OK',
      found: expect.stringContaining('2 current / 4 desired'),
    });
    expect(byName(await run({ ...NAMES, hpa: 'other' })).hpa).toMatchObject({
      status: 'OK',
      found: expect.stringMatching(/^not used: no other/),
    });
    expect(api.requests.some((r) => r.path === PATHS.hpas)).toBe(false);
  });

  it('should be OK with workers scaled to zero and warn when KEDA made no HPA', async () => {
    api
      .get(PATHS.deployment, deployment(0, undefined))
      .get(PATHS.pods, podList())
      .get(
        PATHS.scaledObject,
        scaledObject([
          HEALTHY_SO[0]!,
          { type: 'Active', status: 'False', reason: 'ScalerNotActive' },
        ]),
      )
      .get(
        PATHS.hpas,
        hpaList(
          hpa('keda-hpa-qscale-worker', 'qscale-worker', { current: 0, desired: 0 }, [
            HEALTHY_HPA[0]!,
            {
              type: 'ScalingActive',
              status: 'False',
              reason: 'ScalingDisabled',
              message: 'scaling is disabled since the replica count of the target is zero',
            },
          ]),
        ),
      )
      .get(PATHS.service, service)
      .get(PATHS.slices, slices([{ pod: 'e', ip: '10.0.0.1', ready: true }]));

    const found = byName(await run());
    expect(found['worker-deployment']).toMatchObject({
      status: 'OK',
      found: expect.stringMatching(/scaled to 0/),
    });
    expect(found['scaled-object']).toMatchObject({
      status: 'OK',
      found: expect.stringMatching(/not active/),
    });
    expect(found.hpa).toMatchObject({
      status: 'OK',
      found: expect.stringMatching(/scaled to zero/),
    });

    api.get(PATHS.hpas, hpaList(APP_HPA));
    expect(byName(await run()).hpa).toMatchObject({
      status: 'WARN',
      found: expect.stringMatching(/KEDA has not created its HPA/),
    });
  });

  it('should fail a missing worker Deployment or exporter Service', async () => {
    const found = byName(await run());

    expect(found['worker-deployment']).toMatchObject({
      status: 'FAIL',
      found: 'Deployment qscale-worker not found in namespace qscale',
    });
    expect(found['worker-pods']).toBeUndefined();
    expect(found['exporter-endpoints']).toMatchObject({
      status: 'FAIL',
      found: expect.stringMatching(/Service qscale-exporter not found/),
    });
  });

  it('should warn, not crash, when RBAC forbids reading, naming what to grant', async () => {
    const forbid = (resource: string) => ({
      status: 403,
      body: statusBody(
        403,
        'Forbidden',
        `${resource} is forbidden: User "system:serviceaccount:qscale:qscale-exporter" cannot get resource`,
      ),
    });
    api
      .on('GET', PATHS.deployment, forbid('deployments.apps "qscale-worker"'))
      .on('GET', PATHS.scaledObject, forbid('scaledobjects.keda.sh "qscale-worker"'))
      .on('GET', PATHS.hpas, forbid('horizontalpodautoscalers.autoscaling'))
      .on('GET', PATHS.service, forbid('services "qscale-exporter"'));

    const checks = await run();

    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['worker-deployment', 'WARN'],
      ['scaled-object', 'WARN'],
      ['hpa', 'WARN'],
      ['exporter-endpoints', 'WARN'],
    ]);
    const found = byName(checks);
    expect(found['worker-deployment']!.found).toMatch(
      /^cannot read Deployment qscale-worker: HTTP 403: deployments.apps "qscale-worker" is forbidden.*; grant get on deployments.apps in namespace qscale$/,
    );
    expect(found['worker-deployment']!.fix).toContain(
      'kubectl -n qscale auth can-i get deployments.apps',
    );
    expect(found['scaled-object']!.found).toMatch(/grant get on scaledobjects.keda.sh/);
    expect(found.hpa!.found).toMatch(/grant list on horizontalpodautoscalers.autoscaling/);
    expect(found['exporter-endpoints']!.found).toMatch(/grant get on services/);
  });

  it('should warn once when the API server cannot be reached at all', async () => {
    const kc = api.kubeConfig();
    await api.close();

    const checks = await kubernetesChecks(kc, 'qscale', NAMES, { requestTimeoutMs: 2000 });

    expect(checks).toEqual([
      expect.objectContaining({
        name: 'api-server',
        status: 'WARN',
        found: expect.stringMatching(/^cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:/),
      }),
    ]);
  });
});
