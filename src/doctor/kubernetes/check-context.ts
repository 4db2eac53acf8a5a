import {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type ConfigurationOptions,
  type KubeConfig,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import type { CheckStatus, DoctorCheck } from '../doctor-check.js';
import { apiErrorMessage, apiStatus } from '../../k8s/api-error.js';
import { requestOptions } from '../../k8s/request-options.js';

/** What every Kubernetes check needs: the API clients, the namespace, per-request options. */
export interface CheckContext {
  namespace: string;
  /** Timeout for each request. */
  request: ConfigurationOptions<ObservableMiddleware>;
  apps: AppsV1Api;
  core: CoreV1Api;
  autoscaling: AutoscalingV2Api;
  custom: CustomObjectsApi;
  discovery: DiscoveryV1Api;
}

export function checkContext(kc: KubeConfig, namespace: string, timeoutMs: number): CheckContext {
  return {
    namespace,
    request: requestOptions({ timeoutMs }),
    apps: kc.makeApiClient(AppsV1Api),
    core: kc.makeApiClient(CoreV1Api),
    autoscaling: kc.makeApiClient(AutoscalingV2Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    discovery: kc.makeApiClient(DiscoveryV1Api),
  };
}

/** A `kubernetes` finding of the named check; `fix` and `details` only where given. */
export function finding(
  check: string,
  status: CheckStatus,
  found: string,
  more: Pick<DoctorCheck, 'fix' | 'details'> = {},
): DoctorCheck {
  return { area: 'kubernetes', name: check, status, found, ...more };
}

/** A kubectl command line in the checked namespace. */
export function kubectl(ctx: Pick<CheckContext, 'namespace'>, args: string): string {
  return `kubectl -n ${ctx.namespace} ${args}`;
}

/** A Kubernetes condition, as every status carries them. */
export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** `Type=Status (Reason): message`, the way kubectl describe shows a condition. */
export function describeCondition(condition: Condition): string {
  const reason = condition.reason ? ` (${condition.reason})` : '';
  const message = condition.message ? `: ${condition.message}` : '';
  return `${condition.type}=${condition.status}${reason}${message}`;
}

/**
 * The WARN a check returns when the API refused or failed to answer: which object, why, and the
 * permission that reading it takes.
 */
export function cannotRead(
  ctx: Pick<CheckContext, 'namespace'>,
  check: string,
  what: string,
  access: { verbs: string[]; resource: string },
  error: unknown,
): DoctorCheck {
  const status = apiStatus(error);
  const grant = `grant ${access.verbs.join('/')} on ${access.resource} in namespace ${ctx.namespace}`;
  const denied = status === 401 || status === 403;
  return finding(
    check,
    'WARN',
    `cannot read ${what}: ${apiErrorMessage(error)}${denied ? `; ${grant}` : ''}`,
    {
      fix: denied
        ? `${grant}; check with ${kubectl(ctx, `auth can-i ${access.verbs[0]} ${access.resource}`)}`
        : `check that the API server answers: kubectl cluster-info`,
      details: { status },
    },
  );
}
