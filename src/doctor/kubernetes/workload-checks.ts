import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { DoctorCheck } from '../doctor-check.js';
import { apiStatus } from '../../k8s/api-error.js';
import { cannotRead, finding, kubectl, type CheckContext } from './check-context.js';
import { labelSelectorQuery } from '../../k8s/label-selector.js';

/** A pod restarted more often than this is worth a look. */
export const MAX_QUIET_RESTARTS = 3;

/** Ready vs desired replicas of the worker Deployment. */
export function deploymentCheck(
  ctx: CheckContext,
  name: string,
  deployment: V1Deployment | undefined,
): DoctorCheck {
  const check = 'worker-deployment';
  if (!deployment) {
    return finding(check, 'FAIL', `Deployment ${name} not found in namespace ${ctx.namespace}`, {
      fix: `deploy the workers (kubectl apply -k k8s/overlays/<overlay>) or name the right Deployment; list them: ${kubectl(ctx, 'get deployments')}`,
    });
  }
  const desired = deployment.spec?.replicas ?? 1;
  const ready = deployment.status?.readyReplicas ?? 0;
  const details = {
    desired,
    ready,
    available: deployment.status?.availableReplicas ?? 0,
    updated: deployment.status?.updatedReplicas ?? 0,
  };
  const fix = `${kubectl(ctx, `describe deployment ${name}`)}; ${kubectl(ctx, `get pods -l ${labelSelectorQuery(deployment.spec?.selector) ?? ''}`)}`;
  if (desired === 0) {
    return finding(
      check,
      'OK',
      `Deployment ${name} is scaled to 0 (an autoscaler scales it up when jobs arrive)`,
      { details },
    );
  }
  if (ready === 0) {
    return finding(
      check,
      'FAIL',
      `Deployment ${name}: 0 of ${desired} replicas ready: no worker is running`,
      { fix, details },
    );
  }
  if (ready < desired) {
    return finding(check, 'WARN', `Deployment ${name}: ${ready} of ${desired} replicas ready`, {
      fix,
      details,
    });
  }
  return finding(check, 'OK', `Deployment ${name}: ${ready} of ${desired} replicas ready`, {
    details,
  });
}

function isReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Why a pod is not ready, in a word or two (`Pending: Unschedulable`, `CrashLoopBackOff`). */
function notReadyReason(pod: V1Pod): string {
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ];
  const waiting = statuses.find((s) => s.state?.waiting?.reason)?.state?.waiting?.reason;
  if (waiting) return waiting;
  const unscheduled = pod.status?.conditions?.find(
    (c) => c.type === 'PodScheduled' && c.status === 'False',
  );
  const phase = pod.status?.phase ?? 'Unknown';
  const reason = pod.status?.reason ?? unscheduled?.reason;
  return reason ? `${phase}: ${reason}` : phase;
}

function restartsOf(pod: V1Pod): { count: number; lastReason?: string } {
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ];
  const count = statuses.reduce((sum, s) => sum + (s.restartCount ?? 0), 0);
  const lastReason = statuses.find((s) => s.lastState?.terminated?.reason)?.lastState?.terminated
    ?.reason;
  return { count, ...(lastReason !== undefined && { lastReason }) };
}

/** Worker pods that are not ready or restart often (pods being deleted are left out). */
export async function podsCheck(ctx: CheckContext, deployment: V1Deployment): Promise<DoctorCheck> {
  const check = 'worker-pods';
  const name = deployment.metadata?.name ?? '';
  const selector = labelSelectorQuery(deployment.spec?.selector);
  let pods: V1Pod[];
  try {
    pods = (
      await ctx.core.listNamespacedPod(
        { namespace: ctx.namespace, ...(selector !== undefined && { labelSelector: selector }) },
        ctx.request,
      )
    ).items;
  } catch (error) {
    return cannotRead(
      ctx,
      check,
      `the pods of Deployment ${name}`,
      { verbs: ['list'], resource: 'pods' },
      error,
    );
  }
  const live = pods.filter((pod) => !pod.metadata?.deletionTimestamp);
  const terminating = pods.length - live.length;
  const notReady = live
    .filter((pod) => !isReady(pod))
    .map((pod) => ({ pod: pod.metadata?.name ?? '', reason: notReadyReason(pod) }));
  const restarting = live
    .map((pod) => ({ pod: pod.metadata?.name ?? '', ...restartsOf(pod) }))
    .filter((pod) => pod.count > MAX_QUIET_RESTARTS);
  const details = { pods: live.length, terminating, notReady, restarting };
  const leaving = terminating > 0 ? ` (${terminating} more terminating)` : '';
  if (notReady.length === 0 && restarting.length === 0) {
    return finding(
      check,
      'OK',
      live.length === 0
        ? `no worker pods${leaving}`
        : `${live.length} worker pods, all ready, none restarted more than ${MAX_QUIET_RESTARTS} times${leaving}`,
      { details },
    );
  }
  const problems = [
    ...(notReady.length > 0
      ? [`not ready: ${notReady.map((p) => `${p.pod} (${p.reason})`).join(', ')}`]
      : []),
    ...(restarting.length > 0
      ? [
          `restarting: ${restarting
            .map(
              (p) =>
                `${p.pod} (${p.count} restarts${p.lastReason ? `, last ${p.lastReason}` : ''})`,
            )
            .join(', ')}`,
        ]
      : []),
  ];
  const first = notReady[0]?.pod ?? restarting[0]!.pod;
  return finding(check, 'WARN', `${live.length} worker pods${leaving}; ${problems.join('; ')}`, {
    fix: `${kubectl(ctx, `describe pod ${first}`)}; ${kubectl(ctx, `logs ${first} --previous`)}`,
    details,
  });
}

/** Ready endpoints behind the exporter Service (EndpointSlices, discovery.k8s.io/v1). */
export async function endpointsCheck(ctx: CheckContext, service: string): Promise<DoctorCheck> {
  const check = 'exporter-endpoints';
  let selector: string | undefined;
  try {
    const found = await ctx.core.readNamespacedService(
      { name: service, namespace: ctx.namespace },
      ctx.request,
    );
    const labels = found.spec?.selector ?? {};
    selector = labelSelectorQuery({ matchLabels: labels });
  } catch (error) {
    if (apiStatus(error) === 404) {
      return finding(
        check,
        'FAIL',
        `Service ${service} not found in namespace ${ctx.namespace}: KEDA and Prometheus cannot reach the exporter`,
        {
          fix: `deploy the exporter (k8s/base/exporter.yaml) or name the right Service; list them: ${kubectl(ctx, 'get services')}`,
        },
      );
    }
    return cannotRead(
      ctx,
      check,
      `Service ${service}`,
      { verbs: ['get'], resource: 'services' },
      error,
    );
  }
  let endpoints: { key: string; ready: boolean }[];
  try {
    const slices = await ctx.discovery.listNamespacedEndpointSlice(
      { namespace: ctx.namespace, labelSelector: `kubernetes.io/service-name=${service}` },
      ctx.request,
    );
    endpoints = slices.items.flatMap((slice) =>
      (slice.endpoints ?? []).map((endpoint) => ({
        key: endpoint.targetRef?.name ?? endpoint.addresses.join(','),
        // A missing `ready` means ready (EndpointConditions API).
        ready: endpoint.conditions?.ready !== false,
      })),
    );
  } catch (error) {
    return cannotRead(
      ctx,
      check,
      `the EndpointSlices of Service ${service}`,
      { verbs: ['list'], resource: 'endpointslices.discovery.k8s.io' },
      error,
    );
  }
  // A pod shows up once per address family (dual-stack): count pods, not slice entries.
  const ready = [...new Set(endpoints.filter((e) => e.ready).map((e) => e.key))];
  const notReady = [...new Set(endpoints.filter((e) => !e.ready).map((e) => e.key))].filter(
    (key) => !ready.includes(key),
  );
  const details = { ready, notReady };
  const fix = `${kubectl(ctx, `get endpointslices -l kubernetes.io/service-name=${service}`)}; ${kubectl(ctx, `get pods -l ${selector ?? ''}`)}`;
  if (ready.length === 0) {
    return finding(
      check,
      'FAIL',
      `Service ${service} has no ready endpoint${notReady.length > 0 ? ` (not ready: ${notReady.join(', ')})` : ''}: KEDA cannot get metrics, Prometheus cannot scrape`,
      { fix, details },
    );
  }
  if (notReady.length > 0) {
    return finding(
      check,
      'WARN',
      `Service ${service}: ${ready.length} ready (${ready.join(', ')}), ${notReady.length} not ready (${notReady.join(', ')})`,
      { fix, details },
    );
  }
  return finding(
    check,
    'OK',
    `Service ${service}: ${ready.length} ready endpoint${ready.length === 1 ? '' : 's'} (${ready.join(', ')})`,
    { details },
  );
}
