import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/load-config.js';
import { parseTriggerMetadata } from '../src/keda/trigger-metadata.js';
import { HpaController, type Behavior } from '../lab/scaling/hpa.js';
import {
  REPO_ROOT,
  kustomize,
  podTemplates,
  selects,
  validateObject,
} from '../harness/kustomize.js';
import { checkManifests } from '../harness/manifest-checks.js';

const NAMESPACE = 'qscale';

const OVERLAYS = ['single', 'hpa-cpu', 'hpa-external', 'keda', 'keda-push'] as const;
type Overlay = (typeof OVERLAYS)[number];
const TARGETS: { name: 'base' | Overlay; dir: string }[] = [
  { name: 'base', dir: 'k8s/base' },
  ...OVERLAYS.map((name) => ({ name, dir: `k8s/overlays/${name}` })),
];

const rendered = new Map<string, unknown[]>();
/** Renders once per directory; every test file run renders each kustomization at most once. */
function render(dir: string): unknown[] {
  let objects = rendered.get(dir);
  if (!objects) {
    objects = kustomize(dir);
    rendered.set(dir, objects);
  }
  return objects;
}

function qscaleConfig(objects: readonly unknown[]): Record<string, string> {
  const configMap = objects.filter(ConfigMap.is).find((c) => c.metadata?.name === 'qscale-config');
  expect(configMap, 'ConfigMap qscale-config').toBeDefined();
  return configMap!.data ?? {};
}

function deployment(objects: readonly unknown[], name: string) {
  return objects.filter(Deployment.is).find((d) => d.metadata?.name === name);
}

describe('k8s manifests', () => {
  it('should test every overlay in k8s/overlays', () => {
    const dirs = readdirSync(join(REPO_ROOT, 'k8s/overlays'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name !== 'components')
      .map((entry) => entry.name)
      .sort();
    expect(dirs).toEqual([...OVERLAYS].sort());
  });

  for (const target of TARGETS) {
    describe(target.dir, () => {
      checkManifests({
        name: target.dir,
        render: () => render(target.dir),
        namespace: NAMESPACE,
        createsNamespace: true,
        // The Secret ships a placeholder token; a deployer replaces it.
        placeholderSecret: {
          name: 'qscale-secrets',
          deployed: { API_TOKEN: 'b7c1e0f2a9d84c3e5f60718293a4b5c6' },
        },
      });
    });
  }

  describe('k8s/base', () => {
    it('should scale out the API, workers and exporter beside one Redis', () => {
      const objects = render('k8s/base');
      const replicas = Object.fromEntries(
        objects.filter(Deployment.is).map((d) => [d.metadata?.name, d.spec?.replicas]),
      );
      expect(replicas).toEqual({
        'qscale-app': 3,
        'qscale-worker': 2,
        'qscale-exporter': 2,
        'qscale-redis': 1,
      });
      const args = Object.fromEntries(
        podTemplates(objects).map((t) => [t.name, t.spec.containers[0]!.args]),
      );
      expect(args).toMatchObject({
        'qscale-app': ['app'],
        'qscale-worker': ['worker'],
        'qscale-exporter': ['exporter'],
      });
      expect(args['qscale-redis']).toEqual(
        expect.arrayContaining(['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']),
      );
      const exporter = objects
        .filter(Service.is)
        .find((s) => s.metadata?.name === 'qscale-exporter');
      expect(exporter?.spec?.ports).toEqual([
        expect.objectContaining({ name: 'http-metrics', port: 9464 }),
        expect.objectContaining({ name: 'grpc', port: 6000, appProtocol: 'grpc' }),
      ]);
      const uploads = objects
        .filter(PersistentVolumeClaim.is)
        .find((c) => c.metadata?.name === 'qscale-uploads');
      expect(uploads?.spec?.accessModes).toEqual(['ReadWriteMany']);
      expect(uploads?.spec?.storageClassName).toBeUndefined();
    });
  });

  describe('k8s/overlays/single', () => {
    it('should run app, worker and exporter in one `start` pod behind both Services', () => {
      const objects = render('k8s/overlays/single');
      const templates = podTemplates(objects);
      expect(templates.map((t) => t.name).sort()).toEqual(['qscale', 'qscale-redis']);
      const single = templates.find((t) => t.name === 'qscale')!;
      expect(single.deployment.spec?.replicas).toBe(1);
      expect(single.spec.containers.map((c) => c.args)).toEqual([['start']]);
      for (const service of objects.filter(Service.is)) {
        const backends = templates.filter((t) => selects(service.spec?.selector, t.labels));
        const expected = service.metadata?.name === 'qscale-redis' ? 'qscale-redis' : 'qscale';
        expect(
          backends.map((t) => t.name),
          service.metadata?.name,
        ).toEqual([expected]);
      }
      expect(objects.filter(PodDisruptionBudget.is)).toEqual([]);
    });
  });

  describe('k8s/overlays/hpa-cpu', () => {
    it('should scale the API 1-10 at 70 % CPU and the workers 1-5 at 80 % CPU', () => {
      const hpas = render('k8s/overlays/hpa-cpu').filter(HorizontalPodAutoscaler.is);
      const summary = hpas.map((h) => ({
        target: h.spec?.scaleTargetRef.name,
        min: h.spec?.minReplicas,
        max: h.spec?.maxReplicas,
        metrics: h.spec?.metrics,
      }));
      const cpu = (averageUtilization: number) => [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization } },
        },
      ];
      expect(summary).toEqual(
        expect.arrayContaining([
          { target: 'qscale-app', min: 1, max: 10, metrics: cpu(70) },
          { target: 'qscale-worker', min: 1, max: 5, metrics: cpu(80) },
        ]),
      );
      expect(summary).toHaveLength(2);
    });
  });

  describe('k8s/overlays/hpa-external', () => {
    it('should scale workers on the metric that the prometheus-adapter rule serves', () => {
      const objects = render('k8s/overlays/hpa-external');
      const config = qscaleConfig(objects);
      const hpas = objects.filter(HorizontalPodAutoscaler.is);
      const worker = hpas.find((h) => h.spec?.scaleTargetRef.name === 'qscale-worker')!;
      const app = hpas.find((h) => h.spec?.scaleTargetRef.name === 'qscale-app');
      expect(app?.spec?.metrics?.[0]?.resource?.name).toBe('cpu');
      const external = worker.spec?.metrics?.[0]?.external;
      // The workers that keep the wait objective: the value is already a count.
      expect(external?.target).toEqual({ type: 'AverageValue', averageValue: '1' });
      expect(config.TARGET_WAIT_SECONDS).toBe('30');
      const queue = external?.metric.selector?.matchLabels?.queue;
      expect(config.QUEUES?.split(',')).toContain(queue);

      // The prometheus-adapter chart's values (prometheus-community/prometheus-adapter): its
      // templates/external-metrics-apiservice.yaml registers v1beta1.external.metrics.k8s.io only
      // `if .Values.rules.external`, and templates/configmap.yaml writes `externalRules` from it
      // only `if not .Values.rules.existing`.
      const values = parse(
        readFileSync(
          join(REPO_ROOT, 'k8s/overlays/hpa-external/prometheus-adapter-values.yaml'),
          'utf8',
        ),
      ) as {
        rules: {
          existing?: string;
          external?: {
            seriesQuery: string;
            metricsQuery: string;
            name: { matches?: string; as: string };
          }[];
        };
      };
      expect(values.rules.existing).toBeUndefined();
      const rules = values.rules.external ?? [];
      expect(rules.length).toBeGreaterThan(0);
      const rule = rules.find((r) => r.name.as === external?.metric.name);
      expect(rule, `an externalRule named ${external?.metric.name}`).toBeDefined();
      expect(rule!.seriesQuery).toMatch(/^qscale_queue_desired_workers\{/);
      expect(rules.find((r) => r.name.as === 'redis_queue_length')?.seriesQuery).toMatch(
        /^qscale_queue_length\{/,
      );
      // Every exporter replica reports the same number: max, never sum.
      expect(rule!.metricsQuery).toMatch(
        /^max by \(queue\) \(<<\.Series>>\{<<\.LabelMatchers>>\}\)$/,
      );
    });
  });

  for (const [overlay, type] of [
    ['keda', 'external'],
    ['keda-push', 'external-push'],
  ] as const) {
    describe(`k8s/overlays/${overlay}`, () => {
      let objects: unknown[];
      beforeAll(() => {
        objects = render(`k8s/overlays/${overlay}`);
      });

      it(`should scale workers 0-20 with KEDA through the exporter's ${type} trigger`, () => {
        const [scaledObject, ...others] = objects.filter(ScaledObject.is);
        expect(others).toEqual([]);
        const spec = scaledObject!.spec;
        expect(spec).toMatchObject({
          scaleTargetRef: { name: 'qscale-worker' },
          minReplicaCount: 0,
          maxReplicaCount: 20,
          pollingInterval: 5,
          cooldownPeriod: 60,
          fallback: { failureThreshold: 3, replicas: 2 },
        });
        const behavior = spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
        expect(behavior?.scaleDown).toEqual({
          stabilizationWindowSeconds: 60,
          policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
        });
        expect(behavior?.scaleUp?.stabilizationWindowSeconds).toBe(0);
        expect(spec.triggers).toHaveLength(1);
        // The HPA asks the sidecar at each sync: a Deployment woken from zero is sized at once.
        expect(spec.triggers[0]).toMatchObject({ type, useCachedMetrics: false });
        // The workers' only other autoscaler would fight KEDA's HPA.
        const hpaTargets = objects
          .filter(HorizontalPodAutoscaler.is)
          .map((h) => h.spec?.scaleTargetRef.name);
        expect(hpaTargets).toEqual(['qscale-app']);
      });

      it('should let the HPA reach the replicas asked for in one or two syncs, and not flap after', () => {
        // The ported HPA (lab/scaling/hpa.ts) with the overlay's behavior, a sync every 15 s.
        const [scaledObject] = objects.filter(ScaledObject.is);
        const behavior = scaledObject!.spec.advanced!.horizontalPodAutoscalerConfig!
          .behavior as Behavior;
        const run = (max: number, asked: (t: number) => number, seconds: number) => {
          const hpa = new HpaController({
            minReplicas: 1,
            maxReplicas: max,
            metrics: [
              { type: 'External', name: 'm', target: { type: 'AverageValue', averageValue: 1000 } },
            ],
            behavior,
          });
          const replicas: number[] = [];
          let current = 1;
          for (let t = 0; t <= seconds; t += 15) {
            current = hpa.reconcile(t * 1000, {
              specReplicas: current,
              pods: [],
              externalMetrics: { m: [asked(t) * 1000] },
            }).desiredReplicas;
            replicas.push(current);
          }
          return replicas;
        };
        // From 1 worker: 20 (the overlay's maximum) at the first sync; 500 at the second.
        expect(run(20, () => 20, 15)).toEqual([20, 20]);
        expect(run(500, () => 500, 30).slice(0, 2)).toEqual([101, 500]);
        // A dip shorter than the minute's window changes nothing; a lasting one scales down once.
        const dip = run(20, (t) => (t >= 60 && t < 105 ? 5 : 20), 240);
        expect(new Set(dip)).toEqual(new Set([20]));
        const drop = run(20, (t) => (t >= 60 ? 5 : 20), 240);
        expect(drop.filter((r, i) => i > 0 && r !== drop[i - 1])).toEqual([5]);
      });

      it("should give the trigger metadata that the exporter's scaler accepts", () => {
        const config = qscaleConfig(objects);
        const [scaledObject] = objects.filter(ScaledObject.is);
        const metadata = scaledObject!.spec.triggers[0]!.metadata;
        const served = {
          queues: (config.QUEUES ?? '').split(','),
          prefix: config.QUEUE_PREFIX ?? '',
        };
        const spec = parseTriggerMetadata(metadata, served, { targetWaitSeconds: 60 });
        // Running jobs keep their slots whatever WORKER_CONCURRENCY is: the workers mode never
        // answers fewer than hold them (a backlog target of 10 with 2 jobs per pod did).
        expect(spec).toMatchObject({
          queue: 'file_processing',
          mode: 'workers',
          targetValue: 1,
          activationValue: 0,
          // The shipped wait objective: no looser than twice the lab's 20 s jobs.
          targetWaitSeconds: 30,
        });
        expect(spec.drainSeconds).toBeUndefined();
      });

      it('should dial the exporter Service on its gRPC port', () => {
        const config = qscaleConfig(objects);
        const [scaledObject] = objects.filter(ScaledObject.is);
        const address = scaledObject!.spec.triggers[0]!.metadata.scalerAddress ?? '';
        const match = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)$/.exec(address);
        expect(match, address).not.toBeNull();
        const [, name, namespace, port] = match!;
        const service = objects
          .filter(Service.is)
          .find((s) => s.metadata?.name === name && s.metadata?.namespace === namespace);
        expect(service, `Service ${namespace}/${name}`).toBeDefined();
        const servicePort = service!.spec?.ports?.find((p) => p.port === Number(port));
        expect(servicePort).toMatchObject({ port: 6000, appProtocol: 'grpc' });
        expect(Number(port)).toBe(Number(config.KEDA_PORT));
        const backends = podTemplates(objects).filter((t) =>
          selects(service!.spec?.selector, t.labels),
        );
        expect(backends.map((t) => t.spec.containers[0]!.args)).toEqual([['exporter']]);
      });
    });
  }
});

/** The examples of docs/watching-other-apps.md: a worker Deployment, the sidecar, a ScaledObject. */
const EXAMPLES = [
  {
    dir: 'k8s/examples/rq',
    app: 'Python RQ',
    namespace: 'my-rq-app',
    command: ['rq', 'worker'],
    kind: 'rq',
    spec: { queue: 'file_processing', prefix: 'rq', mode: 'workers', targetWaitSeconds: 30 },
  },
  {
    dir: 'k8s/examples/celery',
    app: 'Celery',
    namespace: 'my-celery-app',
    command: ['celery', '-A'],
    kind: 'celery',
    spec: { queue: 'images', prefix: 'celery', mode: 'backlog', targetValue: 8 },
  },
] as const;

for (const example of EXAMPLES) {
  describe(`${example.dir}: the sidecar and KEDA for an existing ${example.app} app`, () => {
    let objects: unknown[];
    beforeAll(() => {
      objects = render(example.dir);
    });

    it('should render valid objects in one namespace', () => {
      for (const object of objects) validateObject(object);
      expect(
        new Set(objects.map((o) => (o as { metadata: { namespace?: string } }).metadata.namespace)),
      ).toEqual(new Set([example.namespace]));
    });

    it(`should scale the worker Deployment on the sidecar's scaler for a ${example.kind}: queue`, () => {
      const [scaledObject, ...others] = objects.filter(ScaledObject.is);
      expect(others).toEqual([]);
      const target = scaledObject!.spec.scaleTargetRef.name;
      const worker = deployment(objects, target)!;
      expect(worker.spec!.template.spec!.containers[0]!.command?.slice(0, 2)).toEqual([
        ...example.command,
      ]);
      const sidecar = deployment(objects, 'qscale-exporter')!;
      const env = Object.fromEntries(
        (sidecar.spec!.template.spec!.containers[0]!.env ?? [])
          .filter((e) => e.value !== undefined)
          .map((e) => [e.name, e.value!]),
      );
      const config = loadConfig({ ...env, REDIS_URL: 'redis://redis:6379' });
      expect(config.metrics.queues.map((q) => q.kind)).toEqual([example.kind]);
      const trigger = scaledObject!.spec.triggers[0]!;
      const spec = parseTriggerMetadata(
        trigger.metadata,
        {
          queues: config.metrics.queues,
          prefix: config.queue.prefix,
          patterns: config.metrics.queuePatterns,
        },
        { targetWaitSeconds: 60 },
      );
      expect(spec).toMatchObject(example.spec);
      const address = trigger.metadata.scalerAddress ?? '';
      const [, name, namespace, port] =
        /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)$/.exec(address) ?? [];
      const service = objects
        .filter(Service.is)
        .find((s) => s.metadata?.name === name && s.metadata?.namespace === namespace);
      expect(service?.spec?.ports?.find((p) => p.port === Number(port))).toMatchObject({
        appProtocol: 'grpc',
      });
      expect(Number(port)).toBe(Number(env.KEDA_PORT));
    });
  });
}

describe('validateObject', () => {
  const deploymentWithPort = (containerPort: unknown) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'broken' },
    spec: {
      selector: { matchLabels: { app: 'broken' } },
      template: {
        metadata: { labels: { app: 'broken' } },
        spec: { containers: [{ name: 'app', image: 'qscale', ports: [{ containerPort }] }] },
      },
    },
  });

  it('should accept a well-formed object', () => {
    expect(() => validateObject(deploymentWithPort(8080))).not.toThrow();
  });

  it('should reject an object whose field has the wrong type, naming the field', () => {
    expect(() => validateObject(deploymentWithPort('8080'))).toThrow(
      /Deployment\/broken: .*containers\/0\/ports\/0\/containerPort must be integer/,
    );
  });

  it('should reject a ScaledObject whose trigger metadata is not all strings', () => {
    const scaledObject = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'numbers' },
      spec: {
        scaleTargetRef: { name: 'qscale-worker' },
        triggers: [{ type: 'external', metadata: { targetValue: 10 } }],
      },
    };
    expect(() => validateObject(scaledObject)).toThrow(/metadata\/targetValue must be string/);
  });

  it('should reject a kind that it has no schema for', () => {
    const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'unknown' } };
    expect(() => validateObject(job)).toThrow(/no schema for batch\/v1\/Job/);
  });

  it('should reject a document that is not a Kubernetes object', () => {
    expect(() => validateObject({ kind: 'Deployment' })).toThrow(/not a Kubernetes object/);
  });
});

describe('parseTriggerMetadata', () => {
  it('should reject trigger metadata for a queue the scaler does not serve', () => {
    const served = { queues: ['file_processing'], prefix: 'bull' };
    expect(() =>
      parseTriggerMetadata({ queue: 'other', mode: 'backlog' }, served, { targetWaitSeconds: 30 }),
    ).toThrow(/not served/);
    expect(() =>
      parseTriggerMetadata({ queue: 'file_processing', mode: 'fastest' }, served, {
        targetWaitSeconds: 30,
      }),
    ).toThrow(/mode/);
  });
});
