import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { Behavior, HpaMetricSpec, HpaSpec } from './hpa.js';
import type { KedaScaledObjectOptions } from './keda.js';

/** The repository root: kustomizations are rendered from here. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What the lab reads of the shipped manifests: every number comes from `k8s/overlays/*`. */
export interface ShippedManifests {
  /** WORKER_CONCURRENCY of qscale-config. */
  workerConcurrency: number;
  /** The worker pod's CPU request, in milli-CPU. */
  workerCpuRequestMilli: number;
  /** terminationGracePeriodSeconds of the worker pods. */
  terminationGracePeriodSeconds: number;
  /** SHUTDOWN_TIMEOUT_SECONDS of qscale-config. */
  shutdownTimeoutSeconds: number;
  /** The worker HPA of `hpa-cpu` and of `hpa-external`. */
  hpaCpu: HpaSpec;
  hpaExternal: HpaSpec & { metricName: string };
  /** The ScaledObjects of `keda` and `keda-push`. */
  keda: ScaledObjectManifest;
  kedaPush: ScaledObjectManifest;
}

export interface ScaledObjectManifest {
  options: KedaScaledObjectOptions;
  /** The HPA KEDA creates: min/max from the ScaledObject, its `advanced` behavior. */
  behavior: Behavior | undefined;
  minReplicaCount: number;
  maxReplicaCount: number;
  triggerType: 'external' | 'external-push';
  metadata: Record<string, string>;
}

type Obj = {
  kind?: string;
  metadata?: { name?: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

function render(overlay: string): Obj[] {
  const yaml = execFileSync('kubectl', ['kustomize', `k8s/overlays/${overlay}`], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return parseAllDocuments(yaml).map((doc) => doc.toJS() as Obj);
}

const find = (objects: Obj[], kind: string, name: string): Obj => {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in the rendered manifests`);
  return found;
};

/** `500m` → 500, `2` → 2000. */
function milliCpu(quantity: string): number {
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) : Number(quantity) * 1000;
}

interface HpaManifestSpec {
  minReplicas?: number;
  maxReplicas: number;
  behavior?: Behavior;
  metrics: {
    type: string;
    resource?: { name: string; target: { averageUtilization: number } };
    external?: {
      metric: { name: string };
      target: { type: string; averageValue?: string; value?: string };
    };
  }[];
}

function hpaSpec(spec: HpaManifestSpec): HpaSpec & { metricName: string } {
  const metrics: HpaMetricSpec[] = spec.metrics.map((m) => {
    if (m.type === 'Resource' && m.resource) {
      return {
        type: 'Resource',
        name: m.resource.name,
        averageUtilization: m.resource.target.averageUtilization,
      };
    }
    if (m.type === 'External' && m.external) {
      const t = m.external.target;
      return {
        type: 'External',
        name: m.external.metric.name,
        target:
          t.type === 'AverageValue'
            ? { type: 'AverageValue', averageValue: Number(t.averageValue) * 1000 }
            : { type: 'Value', value: Number(t.value) * 1000 },
      };
    }
    throw new Error(`unsupported HPA metric ${JSON.stringify(m)}`);
  });
  return {
    ...(spec.minReplicas !== undefined && { minReplicas: spec.minReplicas }),
    maxReplicas: spec.maxReplicas,
    metrics,
    ...(spec.behavior && { behavior: spec.behavior }),
    metricName: metrics[0]!.type === 'External' ? metrics[0]!.name : 'cpu',
  };
}

function scaledObject(objects: Obj[]): ScaledObjectManifest {
  const so = find(objects, 'ScaledObject', 'qscale-worker').spec as {
    minReplicaCount?: number;
    maxReplicaCount?: number;
    pollingInterval?: number;
    cooldownPeriod?: number;
    fallback?: { failureThreshold: number; replicas: number };
    advanced?: { horizontalPodAutoscalerConfig?: { behavior?: Behavior } };
    triggers: {
      type: 'external' | 'external-push';
      metricType?: 'AverageValue' | 'Value';
      useCachedMetrics?: boolean;
      metadata: Record<string, string>;
    }[];
  };
  const trigger = so.triggers[0]!;
  const options: KedaScaledObjectOptions = {
    ...(so.pollingInterval !== undefined && { pollingInterval: so.pollingInterval }),
    ...(so.cooldownPeriod !== undefined && { cooldownPeriod: so.cooldownPeriod }),
    ...(so.minReplicaCount !== undefined && { minReplicaCount: so.minReplicaCount }),
    ...(so.maxReplicaCount !== undefined && { maxReplicaCount: so.maxReplicaCount }),
    ...(so.fallback && { fallback: so.fallback }),
    triggers: [
      {
        name: 'qscale',
        type: trigger.type,
        metricType: trigger.metricType ?? 'AverageValue',
        targetValue: Number(trigger.metadata.targetValue ?? 1),
        useCachedMetrics: trigger.useCachedMetrics ?? false,
      },
    ],
  };
  return {
    options,
    behavior: so.advanced?.horizontalPodAutoscalerConfig?.behavior,
    minReplicaCount: so.minReplicaCount ?? 0,
    maxReplicaCount: so.maxReplicaCount ?? 100,
    triggerType: trigger.type,
    metadata: trigger.metadata,
  };
}

/** Renders the shipped overlays with `kubectl kustomize` and reads the lab's numbers from them. */
export function readShippedManifests(): ShippedManifests {
  const cpu = render('hpa-cpu');
  const external = render('hpa-external');
  const config = find(cpu, 'ConfigMap', 'qscale-config').data ?? {};
  const worker = find(cpu, 'Deployment', 'qscale-worker').spec as {
    template: {
      spec: {
        terminationGracePeriodSeconds?: number;
        containers: { resources?: { requests?: { cpu?: string } } }[];
      };
    };
  };
  const workerHpa = (objects: Obj[]) =>
    hpaSpec(find(objects, 'HorizontalPodAutoscaler', 'qscale-worker').spec as never);
  return {
    workerConcurrency: Number(config.WORKER_CONCURRENCY ?? 1),
    workerCpuRequestMilli: milliCpu(
      worker.template.spec.containers[0]!.resources?.requests?.cpu ?? '1',
    ),
    terminationGracePeriodSeconds: worker.template.spec.terminationGracePeriodSeconds ?? 30,
    shutdownTimeoutSeconds: Number(config.SHUTDOWN_TIMEOUT_SECONDS ?? 30),
    hpaCpu: workerHpa(cpu),
    hpaExternal: workerHpa(external),
    keda: scaledObject(render('keda')),
    kedaPush: scaledObject(render('keda-push')),
  };
}
