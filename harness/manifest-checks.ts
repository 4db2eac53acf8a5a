import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
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
import { beforeAll, expect, it } from 'vitest';
import { loadConfig, type Env } from '../src/config/load-config.js';
import {
  CLUSTER_SCOPED_KINDS,
  ingressAllowed,
  podTemplates,
  selects,
  validateObject,
  type Endpoint,
  type PodTemplate,
} from './kustomize.js';

// The checks every rendering of qscale's manifests passes, whether kustomize (k8s/) or Helm
// (charts/qscale) made it: test/k8s-manifests.test.ts and test/helm-chart.test.ts run them on
// each overlay and each of the chart's ci/ values files.

export const QSCALE_IMAGE = 'ghcr.io/qscale/qscale:0.1.0';
export const REDIS_IMAGE = 'redis:7-alpine';

const ROLES = ['app', 'worker', 'exporter', 'start'];
/** The role a qscale container runs (its first argument), or `undefined` for anything else. */
export const roleOf = (container: IContainer): string | undefined => {
  const role = container.args?.[0];
  return role !== undefined && ROLES.includes(role) ? role : undefined;
};
export const isRedis = (container: IContainer): boolean => container.args?.[0] === 'redis-server';

export const containersOf = (template: PodTemplate): IContainer[] => [
  ...(template.spec.initContainers ?? []),
  ...template.spec.containers,
];

/** A pod of this template as NetworkPolicies see it. */
export const podOf = (template: PodTemplate): Endpoint => ({
  namespace: template.deployment.metadata?.namespace ?? '',
  labels: template.labels,
});

/** Runs a role (or `start`, which runs them all). */
const runs = (template: PodTemplate, role: string) =>
  template.spec.containers.some((c) => roleOf(c) === role || roleOf(c) === 'start');

/** Values for Secrets the rendering refers to but does not create (made by the deployer). */
const OUTSIDE_SECRET_VALUES: Record<string, string> = {
  REDIS_URL: 'redis://redis.example.internal:6379',
  url: 'redis://redis.example.internal:6379',
  API_TOKEN: 'b7c1e0f2a9d84c3e5f60718293a4b5c6',
  ACTION_TOKEN: '0f1e2d3c4b5a69788796a5b4c3d2e1f0',
};

export interface ManifestTarget {
  /** What is rendered, for the test names: `k8s/overlays/keda`, `charts/qscale ci/…`. */
  name: string;
  render: () => Promise<unknown[]> | unknown[];
  /** Where the namespaced objects go. */
  namespace: string;
  /** Objects that live in another namespace on purpose, `Kind/name` → namespace. */
  otherNamespaces?: Record<string, string>;
  /** Whether the rendering creates its namespace (kustomize's base does; a chart does not). */
  createsNamespace: boolean;
  /**
   * A Secret of the rendering that holds placeholders which the pods refuse (k8s/base's), and
   * what a deployer puts in their place.
   */
  placeholderSecret?: { name: string; deployed: Record<string, string> };
  /** Adjusts a container's environment before qscale's config parses it (see its caller). */
  adjustEnv?: (env: Env) => Env;
}

/** The environment a container sees: its ConfigMaps, Secrets, values and downward API, expanded. */
export function containerEnv(
  container: IContainer,
  template: PodTemplate,
  objects: readonly unknown[],
  secretOverrides: Record<string, Record<string, string>> = {},
): Env {
  const configMaps = objects.filter(ConfigMap.is);
  const secrets = objects.filter(Secret.is);
  const secretValue = (name: string, key: string): string | undefined => {
    const override = secretOverrides[name]?.[key];
    if (override !== undefined) return override;
    const secret = secrets.find((s) => s.metadata?.name === name);
    if (secret) return secret.stringData?.[key];
    return OUTSIDE_SECRET_VALUES[key] ?? 'p4ss-w0rd_from-a-secret';
  };
  const env: Env = {};
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    const configMap = configMaps.find((c) => c.metadata?.name === name);
    expect(configMap, `${template.name}: envFrom ConfigMap ${name}`).toBeDefined();
    Object.assign(env, configMap!.data);
  }
  for (const variable of container.env ?? []) {
    let value: string | undefined;
    if (variable.value !== undefined) {
      // Kubernetes expands $(VAR) of variables defined before this one.
      value = variable.value.replace(
        /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (whole, name: string) => env[name] ?? whole,
      );
    } else if (variable.valueFrom?.secretKeyRef) {
      const { name, key, optional } = variable.valueFrom.secretKeyRef;
      value = secretValue(name ?? '', key);
      if (value === undefined && !optional) {
        throw new Error(`${template.name}: Secret ${name} has no key ${key}`);
      }
    } else if (variable.valueFrom?.fieldRef) {
      const path = variable.valueFrom.fieldRef.fieldPath;
      value =
        path === 'metadata.name'
          ? `${template.name}-7d4b9c-x2x9q`
          : path === 'metadata.namespace'
            ? (template.deployment.metadata?.namespace ?? '')
            : undefined;
    }
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

/** Registers, inside the caller's `describe`, every check a rendering of qscale must pass. */
export function checkManifests(target: ManifestTarget): void {
  let objects: unknown[];
  let templates: PodTemplate[];
  let qscaleTemplates: PodTemplate[];

  beforeAll(async () => {
    objects = await target.render();
    templates = podTemplates(objects);
    qscaleTemplates = templates.filter((t) => t.spec.containers.some((c) => roleOf(c)));
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

  it('should put every namespaced object in its namespace', () => {
    for (const object of objects) {
      validateObject(object);
      const id = `${object.kind}/${object.metadata.name}`;
      const expected = CLUSTER_SCOPED_KINDS.includes(object.kind)
        ? undefined
        : (target.otherNamespaces?.[id] ?? target.namespace);
      expect(object.metadata.namespace, id).toBe(expected);
    }
    const namespaces = objects.filter((o) => (o as { kind?: string }).kind === 'Namespace') as {
      metadata: { name: string };
    }[];
    expect(namespaces.map((n) => n.metadata.name)).toEqual(
      target.createsNamespace ? [target.namespace] : [],
    );
  });

  it('should run the released qscale image and Redis only', () => {
    for (const template of templates) {
      for (const container of containersOf(template)) {
        const expected = isRedis(container) ? REDIS_IMAGE : QSCALE_IMAGE;
        expect(container.image, `${template.name}/${container.name}`).toBe(expected);
      }
    }
  });

  it('should give every container requests, limits and a locked-down securityContext', () => {
    expect(templates.length).toBeGreaterThan(0);
    for (const template of templates) {
      // Only a sidecar that keeps the pod-deletion-cost talks to the Kubernetes API: no other pod
      // gets a token.
      const apiClient = template.spec.containers.some(
        (c) =>
          roleOf(c) === 'exporter' &&
          (c.env ?? []).some((e) => e.name === 'POD_DELETION_COST' && e.value === 'on'),
      );
      expect(template.spec.automountServiceAccountToken, template.name).toBe(apiClient);
      if (!apiClient) expect(template.spec.serviceAccountName, template.name).toBeUndefined();
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
          expect(template.deployment.metadata?.annotations?.['qscale.io/probes'], where).toMatch(
            /^none - .*BullMQ/,
          );
        } else {
          expect(container.livenessProbe, `${where} livenessProbe`).toBeDefined();
          expect(container.readinessProbe, `${where} readinessProbe`).toBeDefined();
        }
      }
    }
  });

  it('should let every worker finish its jobs before Kubernetes kills it', () => {
    for (const template of qscaleTemplates.filter((t) => runs(t, 'worker'))) {
      const container = template.spec.containers.find((c) =>
        ['worker', 'start'].includes(roleOf(c) ?? ''),
      )!;
      const env = containerEnv(container, template, objects);
      const shutdownSeconds = Number(env.SHUTDOWN_TIMEOUT_SECONDS);
      expect(shutdownSeconds, template.name).toBeGreaterThan(0);
      expect(template.spec.terminationGracePeriodSeconds, template.name).toBeGreaterThan(
        shutdownSeconds,
      );
      // The pod name labels the worker's metrics and heartbeat.
      expect(container.env, template.name).toContainEqual({
        name: 'WORKER_ID',
        valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
      });
    }
  });

  it('should serve the sidecar where KEDA and Prometheus look for it', () => {
    const exporters = qscaleTemplates.filter((t) => runs(t, 'exporter'));
    expect(exporters.length).toBeGreaterThan(0);
    // Scraped through a ServiceMonitor or through the pods' annotations, never both.
    const serviceMonitors = objects.filter(ServiceMonitor.is);
    for (const template of exporters) {
      const container = template.spec.containers.find((c) =>
        ['exporter', 'start'].includes(roleOf(c) ?? ''),
      )!;
      const env = containerEnv(container, template, objects);
      const ports = (container.ports ?? []).map((p) => p.containerPort);
      expect(ports, template.name).toEqual(
        expect.arrayContaining([Number(env.METRICS_PORT), Number(env.KEDA_PORT)]),
      );
      const scrape = {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': env.METRICS_PORT,
        'prometheus.io/path': '/metrics',
      };
      if (serviceMonitors.length === 0) {
        expect(template.annotations, template.name).toMatchObject(scrape);
      } else {
        for (const key of Object.keys(scrape)) {
          expect(template.annotations, template.name).not.toHaveProperty([key]);
        }
      }
      if (roleOf(container) === 'exporter') {
        // The scaler registers the standard gRPC health service on KEDA_PORT.
        const grpcPorts = [container.livenessProbe, container.readinessProbe].flatMap((probe) =>
          probe?.grpc ? [probe.grpc.port] : [],
        );
        expect(grpcPorts, template.name).toContain(6000);
        expect(grpcPorts.every((port) => port === Number(env.KEDA_PORT))).toBe(true);
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
            typeof targetPort === 'string' ? p.name === targetPort : p.containerPort === targetPort,
          );
          expect(served, `Service ${name} port ${port.name} on ${template.name}`).toBe(true);
        }
      }
    }
    for (const monitor of objects.filter(ServiceMonitor.is)) {
      const scraped = services.filter(
        (s) =>
          s.metadata?.namespace === monitor.metadata?.namespace &&
          selects(monitor.spec.selector, s.metadata?.labels ?? {}),
      );
      expect(
        scraped.map((s) => s.metadata?.name),
        `ServiceMonitor ${monitor.metadata?.name}`,
      ).toHaveLength(1);
      for (const endpoint of monitor.spec.endpoints ?? []) {
        expect(scraped[0]!.spec?.ports?.map((p) => p.name)).toContain(endpoint.port);
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

  it('should let only qscale pods reach Redis, Prometheus and KEDA the sidecar, anyone the API', () => {
    const policies = objects.filter(NetworkPolicy.is);
    const redis = templates.find((t) => t.spec.containers.some(isRedis));
    const [api, worker, exporter] = ['app', 'worker', 'exporter'].map(
      (role) => qscaleTemplates.filter((t) => runs(t, role))[0],
    );
    const stranger: Endpoint = { namespace: 'default', labels: { app: 'curious' } };
    const neighbour: Endpoint = { namespace: target.namespace, labels: { app: 'other' } };
    const prometheus: Endpoint = { namespace: 'monitoring', labels: { app: 'prometheus' } };
    const keda: Endpoint = { namespace: 'keda', labels: { app: 'keda-operator' } };
    const allowed = (to: PodTemplate, from: Endpoint, port: number) =>
      ingressAllowed(policies, podOf(to), from, port);

    if (redis) {
      for (const client of [api, worker, exporter].filter((t) => t !== undefined)) {
        expect(allowed(redis, podOf(client), 6379), `${client.name} -> redis`).toBe(true);
      }
      for (const outsider of [stranger, neighbour, prometheus, keda]) {
        expect(allowed(redis, outsider, 6379)).toBe(false);
      }
    }
    expect(exporter, 'a sidecar').toBeDefined();
    expect(allowed(exporter!, prometheus, 9464)).toBe(true);
    expect(allowed(exporter!, keda, 6000)).toBe(true);
    expect(allowed(exporter!, prometheus, 6000)).toBe(false);
    expect(allowed(exporter!, keda, 9464)).toBe(false);
    expect(allowed(exporter!, stranger, 9464)).toBe(false);
    expect(allowed(exporter!, neighbour, 6000)).toBe(false);
    if (api) {
      expect(allowed(api, stranger, 8080)).toBe(true);
      expect(allowed(api, stranger, 6379)).toBe(false);
    }
    // A worker serves nothing: unless it shares the pod with the API (single), nobody gets in.
    if (worker && worker !== api) expect(allowed(worker, stranger, 8080)).toBe(false);
  });

  it('should hand every qscale container settings that qscale accepts', () => {
    const placeholder = target.placeholderSecret;
    if (placeholder) {
      // The Secret ships a placeholder token: a pod refuses to start with it, saying so.
      const template = qscaleTemplates.find((t) => runs(t, 'app'))!;
      const container = template.spec.containers.find((c) => roleOf(c))!;
      expect(() => loadConfig(containerEnv(container, template, objects))).toThrow(
        /API_TOKEN="\*+": is the placeholder of k8s\/base\/secret\.yaml/,
      );
    }
    const overrides = placeholder ? { [placeholder.name]: placeholder.deployed } : {};
    const claims = objects.filter(PersistentVolumeClaim.is).map((c) => c.metadata?.name);
    expect(qscaleTemplates.length).toBeGreaterThan(0);
    for (const template of qscaleTemplates) {
      for (const volume of template.spec.volumes ?? []) {
        if (volume.persistentVolumeClaim) {
          expect(claims, template.name).toContain(volume.persistentVolumeClaim.claimName);
        }
      }
      for (const container of template.spec.containers.filter((c) => roleOf(c))) {
        const where = `${template.name}/${container.name}`;
        // What the container sees once deployed: its ConfigMap, Secrets, the pod's name.
        const env = containerEnv(container, template, objects, overrides);
        const config = loadConfig(target.adjustEnv ? target.adjustEnv(env) : env);
        if (['app', 'worker', 'start'].includes(roleOf(container) ?? '')) {
          // The API writes uploads where the workers read them.
          const mount = container.volumeMounts?.find((m) => m.mountPath === env.UPLOAD_DIR);
          const volume = template.spec.volumes?.find((v) => v.name === mount?.name);
          expect(volume?.persistentVolumeClaim?.claimName, where).toMatch(/-uploads$/);
        }
        if (roleOf(container) === 'exporter' && config.kubernetes.podDeletionCost) {
          expect(config.kubernetes.namespace, where).toBe(target.namespace);
        }
      }
    }
  });

  it('should let only the sidecar use the Kubernetes API, to get and patch pods alone', () => {
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
    const keepers = qscaleTemplates.filter((t) => t.spec.automountServiceAccountToken);
    if (keepers.length === 0) {
      // No pod-deletion-cost (one worker in `single`, or turned off): no identity at all.
      expect([...accounts, ...roles, ...bindings]).toEqual([]);
    }
    for (const template of keepers) {
      const account = template.spec.serviceAccountName;
      const granted = bindings
        .filter((b) => (b.subjects ?? []).some((s) => s.name === account))
        .flatMap((b) => roles.filter((r) => r.metadata?.name === b.roleRef.name))
        .flatMap((r) => r.rules ?? []);
      expect(granted, template.name).toContainEqual(
        expect.objectContaining({ resources: ['pods'], verbs: expect.arrayContaining(['patch']) }),
      );
      const env = template.spec.containers.find((c) => roleOf(c) === 'exporter')!.env ?? [];
      expect(env, template.name).toContainEqual({
        name: 'POD_NAMESPACE',
        valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
      });
    }
  });

  it('should leave the replicas of an autoscaled Deployment to its one autoscaler', () => {
    const targets = [
      ...objects.filter(HorizontalPodAutoscaler.is).map((h) => h.spec?.scaleTargetRef.name),
      ...objects.filter(ScaledObject.is).map((s) => s.spec.scaleTargetRef.name),
    ];
    expect(new Set(targets).size, `autoscaled: ${targets.join(', ')}`).toBe(targets.length);
    for (const name of targets) {
      const scaled = objects.filter(Deployment.is).find((d) => d.metadata?.name === name);
      // The chart's sidecar mode scales Deployments of the watched app, not its own.
      if (!scaled) continue;
      expect(scaled.spec?.replicas, `Deployment ${name}`).toBeUndefined();
    }
  });
}
