// The replica calculation of the HPA port (see hpa.ts): a port of the Kubernetes HorizontalPodAutoscaler replica arithmetic (kubernetes/kubernetes
// pkg/controller/podautoscaler: replica_calculator.go, metrics/utilization.go, horizontal.go and
// the behavior defaults of pkg/apis/autoscaling/v2/defaults.go), for the scaling lab.
//
// Pure: no I/O, no timers, no clock. Every function that needs "now" takes it as a number.
// Units:
//   - instants (`now`, pod start times, condition transitions, metric timestamps): milliseconds;
//   - durations that mirror a manifest field keep its unit (`periodSeconds`,
//     `stabilizationWindowSeconds`), other durations say theirs in the name (`windowMs`);
//   - metric values and requests are milli-units, as upstream's `Quantity.MilliValue()`.
// Comparisons of instants keep upstream's strictness (`time.After`/`time.Before` are strict).

/** Default `--horizontal-pod-autoscaler-sync-period`: how often a simulation should call `reconcile`. */
export const DEFAULT_SYNC_PERIOD_SECONDS = 15;

// ---------------------------------------------------------------------------------------------
// Errors and options

/** A replica count could not be computed (upstream returns an `error` in the same places). */
export class HpaCalculationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpaCalculationError';
  }
}

/** Controller-wide settings, the kube-controller-manager `--horizontal-pod-autoscaler-*` flags. */
export interface HpaCalculatorOptions {
  /**
   * Ratio distance from 1.0 within which no scaling happens.
   * @defaultValue 0.1
   */
  tolerance?: number;
  /**
   * CPU samples of a pod younger than this are only trusted if taken a full metric window after
   * it became ready.
   * @defaultValue 300
   */
  cpuInitializationPeriodSeconds?: number;
  /**
   * A pod that turned unready within this long of its start is taken as never having been ready.
   * @defaultValue 30
   */
  initialReadinessDelaySeconds?: number;
}

/** Settings of {@link HpaController}: the calculator's plus the default scale-down window. */
export interface HpaControllerOptions extends HpaCalculatorOptions {
  /**
   * Scale-down stabilization window used when the HPA has no behavior, or its scaleDown rules
   * leave `stabilizationWindowSeconds` unset.
   * @defaultValue 300
   */
  downscaleStabilizationWindowSeconds?: number;
}

/** The controller-wide defaults (kube-controller-manager's flag defaults). */
export const DEFAULT_HPA_OPTIONS: Required<HpaControllerOptions> = {
  tolerance: 0.1,
  cpuInitializationPeriodSeconds: 300,
  initialReadinessDelaySeconds: 30,
  downscaleStabilizationWindowSeconds: 300,
};

/**
 * Spreads the defaults under `options` and validates the result.
 * @throws RangeError naming the offending option.
 */
export function resolveHpaOptions(
  options: HpaControllerOptions = {},
): Required<HpaControllerOptions> {
  const resolved = { ...DEFAULT_HPA_OPTIONS, ...options };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`HPA option ${name} must be a finite number >= 0, got ${value}`);
    }
  }
  return resolved;
}

// ---------------------------------------------------------------------------------------------
// Pods and metrics

/** Pod phase, as `v1.PodPhase`. */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** Status of a pod condition, as `v1.ConditionStatus`. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** The fields of a pod the HPA reads. */
export interface HpaPod {
  /** Pod name; keys the metric maps. */
  name: string;
  /** `status.phase`. */
  phase: PodPhase;
  /** The `Ready` condition; undefined when the pod has none yet. */
  ready?: { status: ConditionStatus; lastTransitionTime: number };
  /** `status.startTime` (ms); undefined before the kubelet started the pod. */
  startTime?: number;
  /** True when `metadata.deletionTimestamp` is set. */
  deleting?: boolean;
  /**
   * Sum over the pod's containers of their request, per resource name, in milli-units
   * (1 CPU = 1000). A resource missing here means a container has no request for it.
   */
  requestsMilli?: Readonly<Record<string, number>>;
}

/** One pod's sample from the resource metrics API. */
export interface PodMetricSample {
  /** Usage in milli-units, summed over containers. */
  value: number;
  /** When the sample was taken (ms). */
  timestamp: number;
  /** The window the sample averages over (ms); metrics-server reports one minute. */
  windowMs: number;
}

/** Samples per pod name; names without a pod are allowed (upstream tolerates extra metrics). */
export type PodMetrics = Readonly<Record<string, PodMetricSample>>;

/** How {@link groupPods} sorted the pods. */
export interface PodGroups {
  /** Pods whose sample counts. */
  readyPodCount: number;
  /** Pending pods, and (for CPU) pods unready or still warming up: left out, 0 on scale-up. */
  unreadyPods: Set<string>;
  /** Pods without a sample: 100% of request on scale-down, 0 on scale-up. */
  missingPods: Set<string>;
  /** Deleted or failed pods: left out entirely. */
  ignoredPods: Set<string>;
}

/**
 * Sorts pods the way upstream `groupPods` does. The readiness rules only apply to the `cpu`
 * resource: a pod within `cpuInitializationPeriod` of its start counts only if ready and sampled
 * a full window after it became ready; an older pod is left out only if it is unready and has
 * never been ready (it turned unready within `initialReadinessDelay` of its start).
 */
export function groupPods(
  pods: readonly HpaPod[],
  metrics: PodMetrics,
  resource: string,
  now: number,
  options: HpaCalculatorOptions = {},
): PodGroups {
  const { cpuInitializationPeriodSeconds, initialReadinessDelaySeconds } =
    resolveHpaOptions(options);
  const groups: PodGroups = {
    readyPodCount: 0,
    unreadyPods: new Set(),
    missingPods: new Set(),
    ignoredPods: new Set(),
  };
  for (const pod of pods) {
    if (pod.deleting || pod.phase === 'Failed') {
      groups.ignoredPods.add(pod.name);
      continue;
    }
    if (pod.phase === 'Pending') {
      groups.unreadyPods.add(pod.name);
      continue;
    }
    const metric = metrics[pod.name];
    if (metric === undefined) {
      groups.missingPods.add(pod.name);
      continue;
    }
    if (resource === 'cpu') {
      let unready: boolean;
      const condition = pod.ready;
      if (condition === undefined || pod.startTime === undefined) {
        unready = true;
      } else if (pod.startTime + cpuInitializationPeriodSeconds * 1000 > now) {
        // Still initializing: the sample must be a full window younger than the transition.
        unready =
          condition.status === 'False' ||
          metric.timestamp < condition.lastTransitionTime + metric.windowMs;
      } else {
        // Unready and never been ready.
        unready =
          condition.status === 'False' &&
          pod.startTime + initialReadinessDelaySeconds * 1000 > condition.lastTransitionTime;
      }
      if (unready) {
        groups.unreadyPods.add(pod.name);
        continue;
      }
    }
    groups.readyPodCount++;
  }
  return groups;
}

/** Upstream integer division (Go truncates toward zero), exact for safe integers. */
function intDiv(a: number, b: number): number {
  if (Number.isSafeInteger(a) && Number.isSafeInteger(b)) return Number(BigInt(a) / BigInt(b));
  return Math.trunc(a / b);
}

/** Result of {@link getResourceUtilizationRatio}. */
export interface UtilizationRatio {
  /** utilization / target. */
  ratio: number;
  /** Whole percent of the summed requests (truncated, as upstream). */
  utilization: number;
  /** Mean usage per counted pod, milli-units (truncated). */
  rawAverageValue: number;
}

/**
 * `metrics.GetResourceUtilizationRatio`: sums usage and requests over the pods that have both,
 * takes the whole percent, and divides it by the target.
 * @throws HpaCalculationError when no sample matches a known request.
 */
export function getResourceUtilizationRatio(
  metrics: ReadonlyMap<string, number>,
  requests: ReadonlyMap<string, number>,
  targetUtilization: number,
): UtilizationRatio {
  let metricsTotal = 0;
  let requestsTotal = 0;
  let entries = 0;
  for (const [podName, value] of metrics) {
    const request = requests.get(podName);
    if (request === undefined) continue; // missing requests are checked elsewhere
    metricsTotal += value;
    requestsTotal += request;
    entries++;
  }
  if (requestsTotal === 0) throw new HpaCalculationError('no metrics returned matched known pods');
  const utilization = intDiv(metricsTotal * 100, requestsTotal);
  return {
    ratio: utilization / targetUtilization,
    utilization,
    rawAverageValue: intDiv(metricsTotal, entries),
  };
}

/** Input of {@link getResourceReplicas}. */
export interface ResourceReplicasInput {
  /** The target's `spec.replicas` (upstream passes specReplicas). */
  currentReplicas: number;
  /** `target.averageUtilization`, percent of request. */
  targetUtilization: number;
  /** @defaultValue 'cpu' */
  resource?: string;
  /** Every pod the selector matches, whatever its state. */
  pods: readonly HpaPod[];
  /** Samples from the resource metrics API. */
  metrics: PodMetrics;
  /** Clock (ms), for the CPU readiness rules. */
  now: number;
}

/** Result of {@link getResourceReplicas}. */
export interface ResourceReplicasResult {
  /** Proposed replica count. */
  replicas: number;
  /** Current utilization in whole percent, over the counted pods (before re-balancing). */
  utilization: number;
  /** Mean usage per counted pod, milli-units. */
  rawUtilization: number;
}

/**
 * `ReplicaCalculator.GetResourceReplicas`: replicas for a Resource metric with a Utilization
 * target. Without unready or missing pods: `ceil(ratio × readyPodCount)` unless within tolerance.
 * Otherwise the ratio is re-computed with missing pods at 100% of request (scale-down) or 0%
 * (scale-up) and, on scale-up only, unready pods at 0%; the scale is cancelled (current replicas
 * returned) if the new ratio is within tolerance or points the other way, and the count is
 * `ceil(newRatio × samples)` unless that too would move the other way.
 * @throws HpaCalculationError as upstream returns errors (no metrics, no pods, missing request…).
 */
export function getResourceReplicas(
  input: ResourceReplicasInput,
  options: HpaCalculatorOptions = {},
): ResourceReplicasResult {
  const { tolerance } = resolveHpaOptions(options);
  const resource = input.resource ?? 'cpu';
  const { currentReplicas, targetUtilization, pods } = input;
  const metrics = new Map(Object.entries(input.metrics).map(([name, m]) => [name, m.value]));
  if (metrics.size === 0) {
    throw new HpaCalculationError(
      `unable to get metrics for resource ${resource}: no metrics returned from resource metrics API`,
    );
  }
  if (pods.length === 0) {
    throw new HpaCalculationError('no pods returned by selector while calculating replica count');
  }
  const { readyPodCount, unreadyPods, missingPods, ignoredPods } = groupPods(
    pods,
    input.metrics,
    resource,
    input.now,
    options,
  );
  for (const name of ignoredPods) metrics.delete(name);
  for (const name of unreadyPods) metrics.delete(name);
  if (metrics.size === 0) {
    throw new HpaCalculationError(
      'did not receive metrics for targeted pods (pods might be unready)',
    );
  }
  const requests = new Map<string, number>();
  for (const pod of pods) {
    const request = pod.requestsMilli?.[resource];
    if (request === undefined) {
      throw new HpaCalculationError(`missing request for ${resource} in pod ${pod.name}`);
    }
    requests.set(pod.name, request);
  }

  const first = getResourceUtilizationRatio(metrics, requests, targetUtilization);
  const usageRatio = first.ratio;
  const keep = (replicas: number): ResourceReplicasResult => ({
    replicas,
    utilization: first.utilization,
    rawUtilization: first.rawAverageValue,
  });

  const scaleUpWithUnready = unreadyPods.size > 0 && usageRatio > 1.0;
  if (!scaleUpWithUnready && missingPods.size === 0) {
    if (Math.abs(1.0 - usageRatio) <= tolerance) return keep(currentReplicas);
    return keep(Math.ceil(usageRatio * readyPodCount));
  }

  if (missingPods.size > 0) {
    if (usageRatio < 1.0) {
      // Scale-down: a missing pod uses 100% of its request, or the target if that is higher.
      const fallbackUtilization = Math.max(100, targetUtilization);
      for (const name of missingPods) {
        metrics.set(name, intDiv((requests.get(name) ?? 0) * fallbackUtilization, 100));
      }
    } else if (usageRatio > 1.0) {
      for (const name of missingPods) metrics.set(name, 0);
    }
  }
  if (scaleUpWithUnready) {
    for (const name of unreadyPods) metrics.set(name, 0);
  }

  const newUsageRatio = getResourceUtilizationRatio(metrics, requests, targetUtilization).ratio;
  if (
    Math.abs(1.0 - newUsageRatio) <= tolerance ||
    (usageRatio < 1.0 && newUsageRatio > 1.0) ||
    (usageRatio > 1.0 && newUsageRatio < 1.0)
  ) {
    return keep(currentReplicas);
  }
  const newReplicas = Math.ceil(newUsageRatio * metrics.size);
  if (
    (newUsageRatio < 1.0 && newReplicas > currentReplicas) ||
    (newUsageRatio > 1.0 && newReplicas < currentReplicas)
  ) {
    return keep(currentReplicas);
  }
  return keep(newReplicas);
}

/** Result of the external-metric calculations. */
export interface ExternalReplicasResult {
  /** Proposed replica count. */
  replicas: number;
  /** Value target: the summed metric; AverageValue target: that sum per status replica (ceil). */
  usage: number;
}

/** Pods that are Running with a True Ready condition (upstream `getReadyPodsCount`). */
export function countReadyPods(pods: readonly HpaPod[]): number {
  if (pods.length === 0) {
    throw new HpaCalculationError('no pods returned by selector while calculating replica count');
  }
  return pods.filter((pod) => pod.phase === 'Running' && pod.ready?.status === 'True').length;
}

/**
 * `getUsageRatioReplicaCount`: with replicas, `ceil(ratio × readyPods)` unless within tolerance;
 * at zero replicas (scale-to-zero HPAs) `ceil(ratio)`, without tolerance or pods.
 */
export function getUsageRatioReplicaCount(
  currentReplicas: number,
  usageRatio: number,
  pods: readonly HpaPod[],
  options: HpaCalculatorOptions = {},
): number {
  const { tolerance } = resolveHpaOptions(options);
  if (currentReplicas === 0) return Math.ceil(usageRatio);
  if (Math.abs(1.0 - usageRatio) <= tolerance) return currentReplicas;
  return Math.ceil(usageRatio * countReadyPods(pods));
}

/**
 * `GetExternalMetricReplicas` (External metric, Value target): the metric series are summed and
 * compared with the target; note the count multiplies the ratio by the READY pods, not by
 * `currentReplicas` (which only decides tolerance and the zero case).
 */
export function getExternalMetricReplicas(
  input: {
    /** The target's `spec.replicas`. */
    currentReplicas: number;
    /** `target.value`, milli-units. */
    targetValue: number;
    /** Every series the external metrics API returned, milli-units. */
    metricValues: readonly number[];
    /** Pods the target's selector matches. */
    pods: readonly HpaPod[];
  },
  options: HpaCalculatorOptions = {},
): ExternalReplicasResult {
  const usage = input.metricValues.reduce((sum, value) => sum + value, 0);
  const usageRatio = usage / input.targetValue;
  return {
    replicas: getUsageRatioReplicaCount(input.currentReplicas, usageRatio, input.pods, options),
    usage,
  };
}

/**
 * `GetExternalPerPodMetricReplicas` (External metric, AverageValue target): ratio is
 * sum / (target × statusReplicas); outside tolerance the count is `ceil(sum / target)`.
 */
export function getExternalPerPodMetricReplicas(
  input: {
    /** The target's `status.replicas` (upstream passes statusReplicas here). */
    statusReplicas: number;
    /** `target.averageValue`, milli-units. */
    targetAverageValue: number;
    /** Every series the external metrics API returned, milli-units. */
    metricValues: readonly number[];
  },
  options: HpaCalculatorOptions = {},
): ExternalReplicasResult {
  const { tolerance } = resolveHpaOptions(options);
  const { statusReplicas, targetAverageValue } = input;
  const usage = input.metricValues.reduce((sum, value) => sum + value, 0);
  let replicas = statusReplicas;
  const usageRatio = usage / (targetAverageValue * replicas);
  if (Math.abs(1.0 - usageRatio) > tolerance) replicas = Math.ceil(usage / targetAverageValue);
  return { replicas, usage: Math.ceil(usage / statusReplicas) };
}
