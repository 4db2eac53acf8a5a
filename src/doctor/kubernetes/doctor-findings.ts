import { AppsV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { ScaledObjectInfo } from '../autoscaling-checks.js';
import type { KubernetesFindings } from '../doctor.js';
import { kubernetesChecks } from './kubernetes-checks.js';

interface ScaledObjectResource {
  metadata?: { name?: string };
  spec?: { triggers?: { type?: string; metadata?: Record<string, string> }[] };
  status?: { conditions?: { type?: string; status?: string }[] };
}

/**
 * Everything `qscale doctor` asks the cluster: the Kubernetes checks, plus what the autoscaling
 * checks need — the workers' ScaledObject (triggers, Active) and the worker Deployment's desired
 * replicas. A resource that is missing or unreadable is simply left out here (the checks say why).
 */
export async function kubernetesDoctorFindings(
  kc: KubeConfig,
  namespace: string,
  names: { workerDeployment: string; scaledObject: string; exporterService: string },
): Promise<KubernetesFindings> {
  const checks = await kubernetesChecks(kc, namespace, names);
  const findings: KubernetesFindings = { checks };
  const apps = kc.makeApiClient(AppsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const [deployment, scaledObject] = await Promise.allSettled([
    apps.readNamespacedDeployment({ name: names.workerDeployment, namespace }),
    custom.getNamespacedCustomObject({
      group: 'keda.sh',
      version: 'v1alpha1',
      namespace,
      plural: 'scaledobjects',
      name: names.scaledObject,
    }) as Promise<ScaledObjectResource>,
  ]);
  if (deployment.status === 'fulfilled') {
    const replicas = deployment.value.spec?.replicas;
    if (replicas !== undefined) findings.expectedWorkers = replicas;
  }
  if (scaledObject.status === 'fulfilled') {
    const so = scaledObject.value;
    const info: ScaledObjectInfo = {
      name: so.metadata?.name ?? names.scaledObject,
      active: (so.status?.conditions ?? []).some((c) => c.type === 'Active' && c.status === 'True'),
      triggers: (so.spec?.triggers ?? []).map((t) => ({
        type: t.type ?? '',
        metadata: t.metadata ?? {},
      })),
    };
    findings.scaledObject = info;
  }
  // A missing (404) or unreadable (403) ScaledObject is reported by the Kubernetes checks; the
  // autoscaling checks then go without it.
  return findings;
}
