import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/load-config.js';
import { parseTriggerMetadata } from '../src/keda/trigger-metadata.js';
import { HpaController, type Behavior } from '../lab/scaling/hpa.js';
import {
  CLUSTER_SCOPED_KINDS,
  REPO_ROOT,
  ingressAllowed,
  kustomize,
  podTemplates,
  selects,
  validateObject,
  type Endpoint,
  type PodTemplate,
} from '../harness/kustomize.js';

const IMAGE = 'ghcr.io/qscale/qscale:0.1.0';
const REDIS_IMAGE = 'redis:7-alpine';
const NAMESPACE = 'qscale';
/** Objects that deliberately live outside the qscale namespace. */
const OTHER_NAMESPACES: Record<string, string> = {};

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

const ROLES = ['app', 'worker', 'exporter', 'start'];
/** The role a qscale container runs (its first argument), or `undefined` for anything else. */
const roleOf = (container: IContainer) => {
  const role = container.args?.[0];
  return role !== undefined && ROLES.includes(role) ? role : undefined;
};
const isRedis = (container: IContainer) => container.args?.[0] === 'redis-server';

const containersOf = (template: PodTemplate) => [
  ...(template.spec.initContainers ?? []),
  ...template.spec.containers,
];

function qscaleConfig(objects: readonly unknown[]): Record<string, string> {
  const configMap = objects.filter(ConfigMap.is).find((c) => c.metadata?.name === 'qscale-config');
  expect(configMap, 'ConfigMap qscale-config').toBeDefined();
  return configMap!.data ?? {};
}

function qscaleSecrets(objects: readonly unknown[]): Record<string, string> {
  const secret = objects.filter(Secret.is).find((s) => s.metadata?.name === 'qscale-secrets');
  expect(secret, 'Secret qscale-secrets').toBeDefined();
  return secret!.stringData ?? {};
}

/** The Secret as a deployer fills it in: the placeholder token replaced by a real one. */
function deployedSecrets(objects: readonly unknown[]): Record<string, string> {
  return { ...qscaleSecrets(objects), API_TOKEN: 'b7c1e0f2a9d84c3e5f60718293a4b5c6' };
}

function deployment(objects: readonly unknown[], name: string) {
  return objects.filter(Deployment.is).find((d) => d.metadata?.name === name);
}

/** A pod of this template as NetworkPolicies see it. */
const podOf = (template: PodTemplate): Endpoint => ({
  namespace: template.deployment.metadata?.namespace ?? '',
  labels: template.labels,
});

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
      let objects: unknown[];
      let templates: PodTemplate[];
      let config: Record<string, string>;

      beforeAll(() => {
        objects = render(target.dir);
        templates = podTemplates(objects);
        config = qscaleConfig(objects);
      });

      it('should render only objects that pass the schema of their kind', () => {
        expect(objects.length).toBeGreaterThan(0);
        const problems = objects.flatMap((object) => {
          try {
            validateObject(object);
            return [];
          } catch (error) {
            return [(error as Error).message];
          }
        });
        expect(problems).toEqual([]);
      });

      it('should put every namespaced object in its namespace, and create that namespace', () => {
        for (const object of objects) {
          validateObject(object);
          const id = `${object.kind}/${object.metadata.name}`;
          const expected = CLUSTER_SCOPED_KINDS.includes(object.kind)
            ? undefined
            : (OTHER_NAMESPACES[id] ?? NAMESPACE);
          expect(object.metadata.namespace, id).toBe(expected);
        }
        expect(objects).toContainEqual(
          expect.objectContaining({
            kind: 'Namespace',
            metadata: expect.objectContaining({ name: NAMESPACE }),
          }),
        );
      });

      it('should run the released qscale image and Redis only', () => {
        for (const template of templates) {
          for (const container of containersOf(template)) {
            const expected = isRedis(container) ? REDIS_IMAGE : IMAGE;
            expect(container.image, `${template.name}/${container.name}`).toBe(expected);
          }
        }
      });

      it('should give every container requests, limits and a locked-down securityContext', () => {
        expect(templates.length).toBeGreaterThan(0);
        for (const template of templates) {
          // Only the exporter talks to the Kubernetes API (pod-deletion-cost): no other pod gets
          // a token.
          const apiClient = template.spec.containers.some((c) => roleOf(c) === 'exporter');
          expect(template.spec.automountServiceAccountToken, template.name).toBe(apiClient);
          expect(template.spec.serviceAccountName, template.name).toBe(
            apiClient ? 'qscale-exporter' : undefined,
          );
          for (const container of containersOf(template)) {
            const where = `${template.name}/${container.name}`;
            const { requests = {}, limits = {} } = container.resources ?? {};
            for (const resource of ['cpu', 'memory']) {
              expect(requests[resource], `${where} requests.${resource}`).toBeDefined();
              expect(limits[resource], `${where} limits.${resource}`).toBeDefined();
            }
            const security = container.securityContext ?? {};
            expect(security, where).toMatchObject({
              runAsNonRoot: true,
              runAsUser: 10001,
              readOnlyRootFilesystem: true,
              allowPrivilegeEscalation: false,
              seccompProfile: { type: 'RuntimeDefault' },
            });
            expect(security.capabilities?.drop, where).toContain('ALL');
            expect(security.capabilities?.add ?? [], where).toEqual([]);
          }
        }
      });

      it('should probe every container except workers, whose Deployment says why', () => {
        for (const template of templates) {
          for (const container of template.spec.containers) {
            const where = `${template.name}/${container.name}`;
            if (roleOf(container) === 'worker') {
              // The documented exception (k8s/base/worker.yaml): no port to probe, BullMQ's locks
              // hand a hung worker's jobs on. It must stay limited to worker-only Deployments.
              expect(container.livenessProbe, where).toBeUndefined();
              expect(container.readinessProbe, where).toBeUndefined();
              expect(
                template.deployment.metadata?.annotations?.['qscale.io/probes'],
                where,
              ).toMatch(/^none - .*BullMQ/);
            } else {
              expect(container.livenessProbe, `${where} livenessProbe`).toBeDefined();
              expect(container.readinessProbe, `${where} readinessProbe`).toBeDefined();
            }
          }
        }
      });

      it('should let every worker finish its jobs before Kubernetes kills it', () => {
        const shutdownSeconds = Number(config.SHUTDOWN_TIMEOUT_SECONDS);
        expect(shutdownSeconds).toBeGreaterThan(0);
        const workers = templates.filter((t) =>
          t.spec.containers.some((c) => ['worker', 'start'].includes(roleOf(c) ?? '')),
        );
        expect(workers.length).toBeGreaterThan(0);
        for (const template of workers) {
          expect(template.spec.terminationGracePeriodSeconds, template.name).toBeGreaterThan(
            shutdownSeconds,
          );
          const container = template.spec.containers.find((c) =>
            ['worker', 'start'].includes(roleOf(c) ?? ''),
          )!;
          // The pod name labels the worker's metrics and heartbeat.
          expect(container.env, template.name).toContainEqual({
            name: 'WORKER_ID',
            valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
          });
        }
      });

      it('should serve the exporter where KEDA and Prometheus look for it', () => {
        const exporters = templates.filter((t) =>
          t.spec.containers.some((c) => ['exporter', 'start'].includes(roleOf(c) ?? '')),
        );
        expect(exporters.length).toBeGreaterThan(0);
        for (const template of exporters) {
          const container = template.spec.containers.find((c) =>
            ['exporter', 'start'].includes(roleOf(c) ?? ''),
          )!;
          const ports = (container.ports ?? []).map((p) => p.containerPort);
          expect(ports, template.name).toEqual(
            expect.arrayContaining([Number(config.METRICS_PORT), Number(config.KEDA_PORT)]),
          );
          expect(template.annotations, template.name).toMatchObject({
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': config.METRICS_PORT,
            'prometheus.io/path': '/metrics',
          });
          if (roleOf(container) === 'exporter') {
            // The scaler registers the standard gRPC health service on KEDA_PORT.
            const grpcPorts = [container.livenessProbe, container.readinessProbe].flatMap(
              (probe) => (probe?.grpc ? [probe.grpc.port] : []),
            );
            expect(grpcPorts, template.name).toContain(6000);
            expect(grpcPorts.every((port) => port === Number(config.KEDA_PORT))).toBe(true);
          }
        }
      });

      it('should point every Service at pods that serve its ports', () => {
        const services = objects.filter(Service.is);
        expect(services.length).toBeGreaterThan(0);
        for (const service of services) {
          const name = service.metadata?.name ?? '';
          const selector = service.spec?.selector ?? {};
          expect(Object.keys(selector), name).not.toHaveLength(0);
          const backends = templates.filter((t) => selects(selector, t.labels));
          expect(
            backends.map((t) => t.name),
            `pods of Service ${name}`,
          ).not.toHaveLength(0);
          for (const template of backends) {
            const containerPorts = template.spec.containers.flatMap((c) => c.ports ?? []);
            for (const port of service.spec?.ports ?? []) {
              const targetPort = port.targetPort ?? port.port;
              const served = containerPorts.some((p) =>
                typeof targetPort === 'string'
                  ? p.name === targetPort
                  : p.containerPort === targetPort,
              );
              expect(served, `Service ${name} port ${port.name} on ${template.name}`).toBe(true);
            }
          }
        }
      });

      it('should select existing pods in every NetworkPolicy and PodDisruptionBudget', () => {
        for (const policy of objects.filter(NetworkPolicy.is)) {
          const name = policy.metadata?.name ?? '';
          const selector = policy.spec?.podSelector ?? {};
          if (Object.keys(selector).length > 0) {
            expect(
              templates.some((t) => selects(selector, t.labels)),
              `NetworkPolicy ${name}`,
            ).toBe(true);
          }
          for (const rule of policy.spec?.ingress ?? []) {
            for (const peer of rule.from ?? []) {
              if (peer.podSelector && !peer.namespaceSelector) {
                expect(
                  templates.some((t) => selects(peer.podSelector, t.labels)),
                  `NetworkPolicy ${name} peer ${JSON.stringify(peer.podSelector)}`,
                ).toBe(true);
              }
            }
          }
        }
        const budgets = objects.filter(PodDisruptionBudget.is);
        for (const budget of budgets) {
          expect(
            templates.some((t) => selects(budget.spec?.selector, t.labels)),
            `PodDisruptionBudget ${budget.metadata?.name}`,
          ).toBe(true);
        }
        // The eviction API refuses to evict a pod that several budgets cover.
        for (const template of templates) {
          const covering = budgets.filter((b) => selects(b.spec?.selector, template.labels));
          expect(covering.length, template.name).toBeLessThanOrEqual(1);
        }
      });

      it('should let only qscale pods reach Redis, Prometheus and KEDA the exporter, anyone the API', () => {
        const policies = objects.filter(NetworkPolicy.is);
        const roles = (role: string) =>
          templates.filter((t) =>
            t.spec.containers.some((c) => roleOf(c) === role || roleOf(c) === 'start'),
          );
        const redis = templates.find((t) => t.spec.containers.some(isRedis))!;
        const [api, worker, exporter] = ['app', 'worker', 'exporter'].map((r) => roles(r)[0]!);
        const stranger: Endpoint = { namespace: 'default', labels: { app: 'curious' } };
        const neighbour: Endpoint = { namespace: NAMESPACE, labels: { app: 'other' } };
        const prometheus: Endpoint = { namespace: 'monitoring', labels: { app: 'prometheus' } };
        const keda: Endpoint = { namespace: 'keda', labels: { app: 'keda-operator' } };
        const allowed = (to: PodTemplate, from: Endpoint, port: number) =>
          ingressAllowed(policies, podOf(to), from, port);

        for (const client of [api, worker, exporter]) {
          expect(allowed(redis, podOf(client!), 6379), `${client!.name} -> redis`).toBe(true);
        }
        for (const outsider of [stranger, neighbour, prometheus, keda]) {
          expect(allowed(redis, outsider, 6379)).toBe(false);
        }
        expect(allowed(exporter!, prometheus, 9464)).toBe(true);
        expect(allowed(exporter!, keda, 6000)).toBe(true);
        expect(allowed(exporter!, prometheus, 6000)).toBe(false);
        expect(allowed(exporter!, keda, 9464)).toBe(false);
        expect(allowed(exporter!, stranger, 9464)).toBe(false);
        expect(allowed(exporter!, neighbour, 6000)).toBe(false);
        expect(allowed(api!, stranger, 8080)).toBe(true);
        expect(allowed(api!, stranger, 6379)).toBe(false);
        // A worker serves nothing: unless it shares the pod with the API (single), nobody gets in.
        if (worker !== api) expect(allowed(worker!, stranger, 8080)).toBe(false);
      });

      it('should hand the containers settings that qscale accepts', () => {
        const secrets = qscaleSecrets(objects);
        // The Secret ships a placeholder token: a pod refuses to start with it, saying so.
        expect(() =>
          loadConfig({ ...config, ...secrets, WORKER_ID: 'qscale-worker-7d4b9c-x2x9q' }),
        ).toThrow(/API_TOKEN="\*+": is the placeholder of k8s\/base\/secret\.yaml/);
        // What a container sees once it is replaced: the ConfigMap, the Secret and the pod name.
        expect(() =>
          loadConfig({
            ...config,
            ...deployedSecrets(objects),
            WORKER_ID: 'qscale-worker-7d4b9c-x2x9q',
          }),
        ).not.toThrow();
        expect(secrets.API_TOKEN?.length ?? 0).toBeGreaterThanOrEqual(16);
        const claims = objects.filter(PersistentVolumeClaim.is).map((c) => c.metadata?.name);
        for (const template of templates) {
          for (const volume of template.spec.volumes ?? []) {
            if (volume.persistentVolumeClaim) {
              expect(claims, template.name).toContain(volume.persistentVolumeClaim.claimName);
            }
          }
          for (const container of containersOf(template)) {
            const where = `${template.name}/${container.name}`;
            for (const source of container.envFrom ?? []) {
              expect(source.configMapRef?.name, where).toBe('qscale-config');
            }
            for (const variable of container.env ?? []) {
              const ref = variable.valueFrom?.secretKeyRef;
              if (ref) {
                expect(ref.name, where).toBe('qscale-secrets');
                // An optional key (ACTION_TOKEN) may be absent: the setting then stays unset.
                if (!ref.optional) expect(Object.keys(secrets), where).toContain(ref.key);
              }
            }
            if (['app', 'worker', 'start'].includes(roleOf(container) ?? '')) {
              // The API writes uploads where the workers read them.
              const mount = container.volumeMounts?.find((m) => m.mountPath === config.UPLOAD_DIR);
              const volume = template.spec.volumes?.find((v) => v.name === mount?.name);
              expect(volume?.persistentVolumeClaim?.claimName, where).toBe('qscale-uploads');
            }
          }
        }
      });

      it('should let only the exporter use the Kubernetes API, to get and patch pods alone', () => {
        const accounts = objects.filter(ServiceAccount.is);
        const roles = objects.filter(Role.is);
        const bindings = objects.filter(RoleBinding.is);
        // No cluster-wide RBAC: validateObject already refuses kinds without a schema here.
        for (const role of roles) {
          expect(role.rules, `Role ${role.metadata?.name}`).toEqual([
            { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
          ]);
        }
        for (const account of accounts) {
          // The token is mounted only where a pod asks for it.
          expect(account.automountServiceAccountToken, account.metadata?.name).toBe(false);
        }
        for (const binding of bindings) {
          const name = `RoleBinding ${binding.metadata?.name}`;
          expect(binding.roleRef.kind, name).toBe('Role');
          expect(
            roles.map((r) => r.metadata?.name),
            name,
          ).toContain(binding.roleRef.name);
          for (const subject of binding.subjects ?? []) {
            expect(subject.kind, name).toBe('ServiceAccount');
            expect(subject.namespace, name).toBe(binding.metadata?.namespace);
            expect(
              accounts.map((a) => a.metadata?.name),
              name,
            ).toContain(subject.name);
          }
        }
        const exporters = templates.filter((t) =>
          t.spec.containers.some((c) => roleOf(c) === 'exporter'),
        );
        if (exporters.length === 0) {
          // overlays/single: one worker, nothing to choose between on a scale-down.
          expect([...accounts, ...roles, ...bindings]).toEqual([]);
        }
        for (const template of exporters) {
          const account = template.spec.serviceAccountName;
          const granted = bindings
            .filter((b) => (b.subjects ?? []).some((s) => s.name === account))
            .flatMap((b) => roles.filter((r) => r.metadata?.name === b.roleRef.name))
            .flatMap((r) => r.rules ?? []);
          expect(granted, template.name).toContainEqual(
            expect.objectContaining({
              resources: ['pods'],
              verbs: expect.arrayContaining(['patch']),
            }),
          );
          const env = template.spec.containers.find((c) => roleOf(c) === 'exporter')!.env ?? [];
          expect(env, template.name).toContainEqual({ name: 'POD_DELETION_COST', value: 'on' });
          expect(env, template.name).toContainEqual({
            name: 'POD_NAMESPACE',
            valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
          });
          // What the exporter container sees, with the downward API's namespace filled in.
          const parsed = loadConfig({
            ...config,
            ...deployedSecrets(objects),
            POD_DELETION_COST: 'on',
            POD_NAMESPACE: template.deployment.metadata?.namespace,
          });
          expect(parsed.kubernetes).toMatchObject({ podDeletionCost: true, namespace: NAMESPACE });
        }
      });

      it('should leave the replicas of an autoscaled Deployment to its one autoscaler', () => {
        const targets = [
          ...objects.filter(HorizontalPodAutoscaler.is).map((h) => h.spec?.scaleTargetRef.name),
          ...objects.filter(ScaledObject.is).map((s) => s.spec.scaleTargetRef.name),
        ];
        expect(new Set(targets).size, `autoscaled: ${targets.join(', ')}`).toBe(targets.length);
        for (const name of targets) {
          const scaled = deployment(objects, name ?? '');
          expect(scaled, `Deployment ${name}`).toBeDefined();
          expect(scaled!.spec?.replicas, `Deployment ${name}`).toBeUndefined();
        }
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

describe('k8s/examples/rq: the sidecar and KEDA for an existing Python RQ app', () => {
  let objects: unknown[];
  beforeAll(() => {
    objects = render('k8s/examples/rq');
  });

  it('should render valid objects in one namespace', () => {
    for (const object of objects) validateObject(object);
    expect(
      new Set(objects.map((o) => (o as { metadata: { namespace?: string } }).metadata.namespace)),
    ).toEqual(new Set(['my-rq-app']));
  });

  it("should scale the RQ worker Deployment on the sidecar's workers mode for an rq: queue", () => {
    const [scaledObject, ...others] = objects.filter(ScaledObject.is);
    expect(others).toEqual([]);
    const target = scaledObject!.spec.scaleTargetRef.name;
    const worker = deployment(objects, target)!;
    expect(worker.spec!.template.spec!.containers[0]!.command?.slice(0, 2)).toEqual([
      'rq',
      'worker',
    ]);
    const sidecar = deployment(objects, 'qscale-exporter')!;
    const env = Object.fromEntries(
      (sidecar.spec!.template.spec!.containers[0]!.env ?? [])
        .filter((e) => e.value !== undefined)
        .map((e) => [e.name, e.value!]),
    );
    const config = loadConfig({ ...env, REDIS_URL: 'redis://redis:6379' });
    expect(config.metrics.queueKinds).toEqual({ file_processing: 'rq' });
    const trigger = scaledObject!.spec.triggers[0]!;
    const spec = parseTriggerMetadata(
      trigger.metadata,
      {
        queues: config.metrics.queues,
        prefix: config.queue.prefix,
        prefixes: config.metrics.queuePrefixes,
        kinds: config.metrics.queueKinds,
      },
      { targetWaitSeconds: 60 },
    );
    expect(spec).toMatchObject({
      queue: 'file_processing',
      prefix: 'rq',
      mode: 'workers',
      targetWaitSeconds: 30,
    });
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
