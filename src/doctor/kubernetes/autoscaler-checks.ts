import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import type { DoctorCheck } from '../doctor-check.js';
import { apiStatus } from '../../k8s/api-error.js';
import {
  cannotRead,
  describeCondition,
  finding,
  kubectl,
  type CheckContext,
  type Condition,
} from './check-context.js';

/** The parts of a KEDA ScaledObject (keda.sh/v1alpha1) the checks read. */
interface ScaledObject {
  spec?: { scaleTargetRef?: { name?: string; kind?: string } };
  status?: { hpaName?: string; conditions?: Condition[] };
}

/** The ScaledObject check, and what the HPA check needs to know from it. */
export interface ScaledObjectResult {
  check: DoctorCheck;
  /** The ScaledObject exists (404 and unreadable: false). */
  exists: boolean;
  /** The HPA KEDA made for it (`status.hpaName`). */
  hpaName?: string;
}

const condition = (conditions: readonly Condition[], type: string) =>
  conditions.find((c) => c.type === type);

/** The ScaledObject's Ready, Active, Fallback (and Paused) conditions. */
export async function scaledObjectCheck(
  ctx: CheckContext,
  name: string,
  workerDeployment: string,
): Promise<ScaledObjectResult> {
  const check = 'scaled-object';
  let object: ScaledObject;
  try {
    object = (await ctx.custom.getNamespacedCustomObject(
      {
        group: 'keda.sh',
        version: 'v1alpha1',
        namespace: ctx.namespace,
        plural: 'scaledobjects',
        name,
      },
      ctx.request,
    )) as ScaledObject;
  } catch (error) {
    if (apiStatus(error) === 404) {
      return {
        exists: false,
        check: finding(
          check,
          'OK',
          `not used: no ScaledObject ${name} in namespace ${ctx.namespace} (or KEDA is not installed)`,
        ),
      };
    }
    return {
      exists: false,
      check: cannotRead(
        ctx,
        check,
        `ScaledObject ${name}`,
        { verbs: ['get'], resource: 'scaledobjects.keda.sh' },
        error,
      ),
    };
  }
  const conditions = object.status?.conditions ?? [];
  const hpaName = object.status?.hpaName;
  const base = { exists: true, ...(hpaName !== undefined && { hpaName }) };
  const details = { conditions, hpaName };
  const fix = `${kubectl(ctx, `describe scaledobject ${name}`)}; kubectl -n keda logs deploy/keda-operator --tail=100`;
  const ready = condition(conditions, 'Ready');
  const active = condition(conditions, 'Active');
  const fallback = condition(conditions, 'Fallback');
  const paused = condition(conditions, 'Paused');
  const target = object.spec?.scaleTargetRef;

  if (ready?.status === 'False') {
    return {
      ...base,
      check: finding(
        check,
        'FAIL',
        `ScaledObject ${name} is not ready: ${describeCondition(ready)}`,
        { fix, details },
      ),
    };
  }
  const warnings = [
    ...(ready?.status !== 'True'
      ? [`not reconciled by KEDA yet (${ready ? describeCondition(ready) : 'no Ready condition'})`]
      : []),
    ...(fallback?.status === 'True'
      ? [
          `its triggers are failing and KEDA applies the fallback replicas (${describeCondition(fallback)})`,
        ]
      : []),
    ...(paused?.status === 'True' ? [`autoscaling is paused (${describeCondition(paused)})`] : []),
    ...(target?.name !== undefined && target.name !== workerDeployment
      ? [`it scales ${target.kind ?? 'Deployment'} ${target.name}, not ${workerDeployment}`]
      : []),
  ];
  const activity =
    active?.status === 'True'
      ? 'active (its trigger asks for workers)'
      : active?.status === 'False'
        ? 'not active (idle: at minReplicaCount)'
        : 'activity unknown';
  return {
    ...base,
    check:
      warnings.length > 0
        ? finding(check, 'WARN', `ScaledObject ${name}: ${warnings.join('; ')}`, { fix, details })
        : finding(check, 'OK', `ScaledObject ${name} is ready, ${activity}`, { details }),
  };
}

/**
 * Finds the HPA that scales the worker Deployment: `names.hpa` when given, else the HPA KEDA named
 * in the ScaledObject's status, else any HPA whose scaleTargetRef is the Deployment (KEDA's is
 * `keda-hpa-<scaledobject>`). Undefined when there is none.
 */
async function findHpa(
  ctx: CheckContext,
  workerDeployment: string,
  preferred: string[],
  explicit: string | undefined,
): Promise<V2HorizontalPodAutoscaler | undefined> {
  if (explicit !== undefined) {
    try {
      return await ctx.autoscaling.readNamespacedHorizontalPodAutoscaler(
        { name: explicit, namespace: ctx.namespace },
        ctx.request,
      );
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw error;
    }
  }
  const all = (
    await ctx.autoscaling.listNamespacedHorizontalPodAutoscaler(
      { namespace: ctx.namespace },
      ctx.request,
    )
  ).items;
  const targeting = all.filter(
    (hpa) =>
      hpa.spec?.scaleTargetRef.kind === 'Deployment' &&
      hpa.spec.scaleTargetRef.name === workerDeployment,
  );
  return (
    targeting.find((hpa) => preferred.includes(hpa.metadata?.name ?? '')) ??
    targeting[0] ??
    undefined
  );
}

/** The worker HPA's replicas and its AbleToScale, ScalingActive and ScalingLimited conditions. */
export async function hpaCheck(
  ctx: CheckContext,
  names: { workerDeployment: string; scaledObject: string; hpa?: string },
  scaledObject: ScaledObjectResult,
): Promise<DoctorCheck> {
  const check = 'hpa';
  const preferred = [
    ...(scaledObject.hpaName !== undefined ? [scaledObject.hpaName] : []),
    `keda-hpa-${names.scaledObject}`,
  ];
  let hpa: V2HorizontalPodAutoscaler | undefined;
  try {
    hpa = await findHpa(ctx, names.workerDeployment, preferred, names.hpa);
  } catch (error) {
    return names.hpa !== undefined
      ? cannotRead(
          ctx,
          check,
          `HorizontalPodAutoscaler ${names.hpa}`,
          { verbs: ['get'], resource: 'horizontalpodautoscalers.autoscaling' },
          error,
        )
      : cannotRead(
          ctx,
          check,
          'the HorizontalPodAutoscalers',
          { verbs: ['list'], resource: 'horizontalpodautoscalers.autoscaling' },
          error,
        );
  }
  if (!hpa) {
    const what = names.hpa ?? `an HPA whose scaleTargetRef is Deployment ${names.workerDeployment}`;
    if (scaledObject.exists) {
      return finding(
        check,
        'WARN',
        `ScaledObject ${names.scaledObject} exists but there is no ${what}: KEDA has not created its HPA`,
        {
          fix: `${kubectl(ctx, `describe scaledobject ${names.scaledObject}`)}; kubectl -n keda logs deploy/keda-operator --tail=100`,
        },
      );
    }
    return finding(check, 'OK', `not used: no ${what} in namespace ${ctx.namespace}`);
  }
  const hpaName = hpa.metadata?.name ?? '';
  const status = hpa.status;
  const conditions: Condition[] = status?.conditions ?? [];
  const details = {
    name: hpaName,
    currentReplicas: status?.currentReplicas ?? 0,
    desiredReplicas: status?.desiredReplicas ?? 0,
    minReplicas: hpa.spec?.minReplicas ?? 1,
    maxReplicas: hpa.spec?.maxReplicas,
    conditions,
  };
  const replicas = `${details.currentReplicas} current / ${details.desiredReplicas} desired replicas (min ${details.minReplicas}, max ${details.maxReplicas})`;
  const fix = kubectl(ctx, `describe hpa ${hpaName}`);
  const ableToScale = condition(conditions, 'AbleToScale');
  const scalingActive = condition(conditions, 'ScalingActive');
  const scalingLimited = condition(conditions, 'ScalingLimited');
  if (ableToScale?.status === 'False') {
    return finding(
      check,
      'FAIL',
      `HPA ${hpaName} cannot scale: ${describeCondition(ableToScale)}; ${replicas}`,
      { fix, details },
    );
  }
  // With 0 replicas the HPA stands aside on purpose (ScalingDisabled): KEDA activates the target.
  const scaledToZero = scalingActive?.reason === 'ScalingDisabled';
  const warnings = [
    ...(scalingActive?.status === 'False' && !scaledToZero
      ? [`it is not computing replicas: ${describeCondition(scalingActive)}`]
      : []),
    ...(scalingLimited?.status === 'True' && scalingLimited.reason === 'TooManyReplicas'
      ? [`it wants more than maxReplicas: ${describeCondition(scalingLimited)}`]
      : []),
  ];
  if (warnings.length > 0) {
    return finding(check, 'WARN', `HPA ${hpaName}: ${warnings.join('; ')}; ${replicas}`, {
      fix,
      details,
    });
  }
  return finding(
    check,
    'OK',
    `HPA ${hpaName}: ${replicas}${scaledToZero ? ', scaled to zero (KEDA activates it)' : ''}`,
    { details },
  );
}
