import type { KubeConfig, V1Deployment } from '@kubernetes/client-node';
import type { DoctorCheck } from '../doctor-check.js';
import { apiErrorMessage, apiStatus } from '../../k8s/api-error.js';
import { hpaCheck, scaledObjectCheck } from './autoscaler-checks.js';
import { cannotRead, checkContext, finding } from './check-context.js';
import { deploymentCheck, endpointsCheck, podsCheck } from './workload-checks.js';

/** The objects `qscale doctor` looks at (names as in k8s/). */
export interface KubernetesCheckNames {
  /** e.g. `qscale-worker`. */
  workerDeployment: string;
  /** e.g. `qscale-worker`; a 404 means KEDA is not used. */
  scaledObject: string;
  /** e.g. `qscale-exporter`. */
  exporterService: string;
  /**
   * The workers' HPA. Default: the one KEDA names in the ScaledObject's status, else any HPA whose
   * scaleTargetRef is the worker Deployment (KEDA's is `keda-hpa-<scaledobject>`).
   */
  hpa?: string;
}

export interface KubernetesChecksOptions {
  /** Timeout of each API request. @defaultValue 5000 */
  requestTimeoutMs?: number;
}

/**
 * The `kubernetes` area of `qscale doctor`, in this order:
 * - `worker-deployment`: ready vs desired replicas (FAIL at 0 ready of > 0 desired, WARN below);
 * - `worker-pods`: pods not ready or restarted more than 3 times (WARN, with names and counts);
 * - `scaled-object`: KEDA's Ready (False: FAIL), Fallback and Paused (True: WARN), Active;
 * - `hpa`: the worker HPA's replicas, AbleToScale (False: FAIL), ScalingActive (False: WARN, except
 *   at zero replicas), ScalingLimited at maxReplicas (WARN);
 * - `exporter-endpoints`: ready endpoints of the exporter Service (0: FAIL, some not ready: WARN).
 *
 * A ScaledObject or HPA that does not exist is "not used" (OK). A request the API refuses (403, …)
 * is a WARN that names the permission to grant; an API server that does not answer at all gives a
 * single `api-server` WARN. Never throws.
 */
export async function kubernetesChecks(
  kc: KubeConfig,
  namespace: string,
  names: KubernetesCheckNames,
  options: KubernetesChecksOptions = {},
): Promise<DoctorCheck[]> {
  let ctx;
  try {
    ctx = checkContext(kc, namespace, options.requestTimeoutMs ?? 5000);
  } catch (error) {
    return [apiServerCheck(kc, error)];
  }
  let deployment: V1Deployment | undefined;
  let first: DoctorCheck;
  try {
    deployment = await ctx.apps.readNamespacedDeployment(
      { name: names.workerDeployment, namespace },
      ctx.request,
    );
    first = deploymentCheck(ctx, names.workerDeployment, deployment);
  } catch (error) {
    const status = apiStatus(error);
    if (status === undefined) return [apiServerCheck(kc, error)];
    first =
      status === 404
        ? deploymentCheck(ctx, names.workerDeployment, undefined)
        : cannotRead(
            ctx,
            'worker-deployment',
            `Deployment ${names.workerDeployment}`,
            { verbs: ['get'], resource: 'deployments.apps' },
            error,
          );
  }
  const [pods, autoscaling, endpoints] = await Promise.all([
    deployment ? podsCheck(ctx, deployment) : undefined,
    scaledObjectCheck(ctx, names.scaledObject, names.workerDeployment).then(async (so) => [
      so.check,
      await hpaCheck(ctx, names, so),
    ]),
    endpointsCheck(ctx, names.exporterService),
  ]);
  return [first, ...(pods ? [pods] : []), ...autoscaling, endpoints];
}

function apiServerCheck(kc: KubeConfig, error: unknown): DoctorCheck {
  const server = kc.getCurrentCluster()?.server ?? 'no cluster in the kubeconfig';
  return finding(
    'api-server',
    'WARN',
    `cannot reach the Kubernetes API at ${server}: ${apiErrorMessage(error)}`,
    {
      fix: 'kubectl cluster-info (and kubectl config current-context: is it the cluster you meant?)',
    },
  );
}
