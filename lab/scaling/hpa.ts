// A port of the Kubernetes HorizontalPodAutoscaler replica arithmetic (kubernetes/kubernetes
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
import {
  HpaCalculationError,
  type HpaCalculatorOptions,
  type HpaControllerOptions,
  type HpaPod,
  type PodMetrics,
  getExternalMetricReplicas,
  getExternalPerPodMetricReplicas,
  getResourceReplicas,
  resolveHpaOptions,
} from './hpa-replicas.js';
import {
  type Behavior,
  type NormalizedReplicas,
  type Recommendation,
  type ResolvedBehavior,
  type ScaleEvent,
  convertDesiredReplicasWithRules,
  normalizeDesiredReplicasWithBehaviors,
  resolveBehavior,
  stabilizeRecommendation,
  storeScaleEvent,
} from './hpa-behavior.js';

export * from './hpa-replicas.js';
export * from './hpa-behavior.js';

// ---------------------------------------------------------------------------------------------
// The controller

/** Metric specs the lab supports (`autoscaling/v2` MetricSpec). */
export type HpaMetricSpec =
  | {
      type: 'Resource';
      /** @defaultValue 'cpu' */
      name?: string;
      /** `target.averageUtilization`, percent of request. */
      averageUtilization: number;
    }
  | {
      type: 'External';
      /** Metric name; keys `externalMetrics` in the reconcile input. */
      name: string;
      /** Value (total) or AverageValue (per replica) target, milli-units. */
      target: { type: 'Value'; value: number } | { type: 'AverageValue'; averageValue: number };
    };

/** The parts of an HPA manifest's spec the controller reads. */
export interface HpaSpec {
  /** @defaultValue 1 */
  minReplicas?: number;
  /** Upper bound. */
  maxReplicas: number;
  /** At least one metric. */
  metrics: readonly HpaMetricSpec[];
  /**
   * `spec.behavior`. When absent, upstream does NOT apply the default behavior: it takes the
   * legacy path (scale-down window + max(2×, 4) scale-up cap). Pass `{}` for the documented
   * defaults ({@link DEFAULT_SCALE_UP_RULES}, {@link DEFAULT_SCALE_DOWN_RULES}).
   */
  behavior?: Behavior;
}

/** What the cluster looks like at a sync. */
export interface HpaObservation {
  /** The target's `spec.replicas`; upstream's `currentReplicas`. */
  specReplicas: number;
  /**
   * The target's `status.replicas` (read by AverageValue external metrics).
   * @defaultValue specReplicas
   */
  statusReplicas?: number;
  /** Every pod the target's selector matches. */
  pods: readonly HpaPod[];
  /** Resource metrics per resource name (`cpu`, `memory`), then per pod. */
  resourceMetrics?: Readonly<Record<string, PodMetrics>>;
  /** External metric series per metric name, milli-units. */
  externalMetrics?: Readonly<Record<string, readonly number[]>>;
}

/** One proposal per metric, as `computeReplicasForMetric`. */
export interface MetricProposal {
  /** Human-readable metric name, as upstream's status message. */
  metric: string;
  /** Proposed replicas, or undefined with `error`. */
  replicas?: number;
  /** Why the proposal failed. */
  error?: string;
}

/** What one sync decided. */
export interface HpaDecision {
  /** Replica count to set (equal to `specReplicas` when not rescaling). */
  desiredReplicas: number;
  /** Whether upstream would update the scale subresource. */
  rescale: boolean;
  /** Upstream's rescale reason, or why nothing happened. */
  reason: string;
  /** Replicas the metrics asked for before normalization (when computed). */
  metricReplicas?: number;
  /** AbleToScale condition reason (when normalized). */
  stabilizationReason?: string;
  /** ScalingLimited condition reason (when normalized). */
  limitReason?: string;
  /** Per-metric proposals. */
  proposals: MetricProposal[];
}

function metricLabel(spec: HpaMetricSpec): string {
  return spec.type === 'Resource'
    ? `${spec.name ?? 'cpu'} resource utilization (percentage of request)`
    : `external metric ${spec.name}`;
}

/**
 * A stateful HPA for one target: keeps the recommendation log and the scale-up/scale-down event
 * logs across syncs, like `HorizontalController` does per HPA key. Call {@link reconcile} every
 * sync period ({@link DEFAULT_SYNC_PERIOD_SECONDS}) with the observed state; apply the decision
 * to the simulated target yourself.
 */
export class HpaController {
  /** Recommendation log (`recommendations[key]`). */
  readonly recommendations: Recommendation[] = [];
  /** Scale-up event log (`scaleUpEvents[key]`). */
  readonly scaleUpEvents: ScaleEvent[] = [];
  /** Scale-down event log (`scaleDownEvents[key]`). */
  readonly scaleDownEvents: ScaleEvent[] = [];
  private initialized = false;
  private readonly options: Required<HpaControllerOptions>;
  private readonly behavior: ResolvedBehavior | undefined;
  private readonly minReplicas: number;

  /**
   * @param spec - the HPA spec; behavior defaults are resolved once, here.
   * @param options - controller flags, see {@link HpaControllerOptions}.
   * @throws RangeError on an invalid option or spec.
   */
  constructor(
    readonly spec: HpaSpec,
    options: HpaControllerOptions = {},
  ) {
    this.options = resolveHpaOptions(options);
    this.minReplicas = spec.minReplicas ?? 1;
    if (spec.metrics.length === 0) throw new RangeError('HPA spec.metrics must not be empty');
    if (!(spec.maxReplicas >= 1) || spec.maxReplicas < this.minReplicas) {
      throw new RangeError(
        `HPA spec.maxReplicas (${spec.maxReplicas}) must be >= 1 and >= minReplicas (${this.minReplicas})`,
      );
    }
    this.behavior =
      spec.behavior === undefined
        ? undefined
        : resolveBehavior(spec.behavior, this.options.downscaleStabilizationWindowSeconds);
  }

  /** The behavior in force after defaulting; undefined on the legacy path. */
  get resolvedBehavior(): ResolvedBehavior | undefined {
    return this.behavior;
  }

  /**
   * One `reconcileAutoscaler` pass at `now` (ms). Records the scale event when it rescales, so
   * call it once per sync and apply `desiredReplicas` when `rescale` is true.
   */
  reconcile(now: number, observed: HpaObservation): HpaDecision {
    const currentReplicas = observed.specReplicas;
    if (!this.initialized && this.recommendations.length === 0) {
      // recordInitialRecommendation: the first sync remembers where the target started.
      this.recommendations.push({ recommendation: currentReplicas, timestamp: now });
    }
    this.initialized = true;
    const { maxReplicas } = this.spec;
    const minReplicas = this.minReplicas;

    let decision: HpaDecision;
    if (currentReplicas === 0 && minReplicas !== 0) {
      // Upstream: a target scaled to 0 by hand (with minReplicas >= 1) disables autoscaling.
      return {
        desiredReplicas: currentReplicas,
        rescale: false,
        reason:
          'ScalingDisabled: scaling is disabled since the replica count of the target is zero',
        proposals: [],
      };
    } else if (currentReplicas > maxReplicas) {
      decision = {
        desiredReplicas: maxReplicas,
        rescale: true,
        reason: 'Current number of replicas above Spec.MaxReplicas',
        proposals: [],
      };
    } else if (currentReplicas < minReplicas) {
      decision = {
        desiredReplicas: minReplicas,
        rescale: true,
        reason: 'Current number of replicas below Spec.MinReplicas',
        proposals: [],
      };
    } else {
      const computed = this.computeReplicasForMetrics(now, observed);
      if (computed.error !== undefined) {
        return {
          desiredReplicas: currentReplicas,
          rescale: false,
          reason: `FailedComputeMetricsReplicas: ${computed.error}`,
          proposals: computed.proposals,
        };
      }
      const desired = Math.max(0, computed.replicas);
      let reason = '';
      if (desired > currentReplicas) reason = `${computed.metric} above target`;
      if (desired < currentReplicas) reason = 'All metrics below target';
      const normalized = this.normalize(now, currentReplicas, desired);
      decision = {
        desiredReplicas: normalized.replicas,
        rescale: normalized.replicas !== currentReplicas,
        reason: reason || 'recommended size matches current size',
        metricReplicas: computed.replicas,
        stabilizationReason: normalized.stabilizationReason,
        limitReason: normalized.limitReason,
        proposals: computed.proposals,
      };
    }

    if (decision.rescale) {
      storeScaleEvent(
        now,
        this.behavior,
        this.scaleUpEvents,
        this.scaleDownEvents,
        currentReplicas,
        decision.desiredReplicas,
      );
    } else {
      decision.desiredReplicas = currentReplicas;
    }
    return decision;
  }

  private normalize(now: number, currentReplicas: number, desired: number): NormalizedReplicas {
    if (this.behavior === undefined) {
      // normalizeDesiredReplicas: the legacy path for HPAs without a behavior.
      const stabilized = stabilizeRecommendation(
        now,
        this.recommendations,
        desired,
        this.options.downscaleStabilizationWindowSeconds,
      );
      const limited = convertDesiredReplicasWithRules(
        currentReplicas,
        stabilized,
        this.minReplicas,
        this.spec.maxReplicas,
      );
      return {
        replicas: limited.replicas,
        stabilizationReason: stabilized !== desired ? 'ScaleDownStabilized' : 'ReadyForNewScale',
        limitReason: limited.reason,
      };
    }
    return normalizeDesiredReplicasWithBehaviors(
      now,
      {
        ...this.behavior,
        minReplicas: this.minReplicas,
        maxReplicas: this.spec.maxReplicas,
        currentReplicas,
        desiredReplicas: desired,
      },
      this.recommendations,
      this.scaleUpEvents,
      this.scaleDownEvents,
    );
  }

  /**
   * `computeReplicasForMetrics`: the largest proposal wins. If every metric failed, or some
   * failed and the rest would scale down, the sync fails (no scaling).
   */
  private computeReplicasForMetrics(
    now: number,
    observed: HpaObservation,
  ): { replicas: number; metric: string; proposals: MetricProposal[]; error?: string } {
    const proposals: MetricProposal[] = [];
    let replicas = 0;
    let metric = '';
    let firstError: string | undefined;
    let invalid = 0;
    for (const spec of this.spec.metrics) {
      const label = metricLabel(spec);
      try {
        const proposal = this.computeReplicasForMetric(now, spec, observed);
        proposals.push({ metric: label, replicas: proposal });
        if (replicas === 0 || proposal > replicas) {
          replicas = proposal;
          metric = label;
        }
      } catch (err) {
        if (!(err instanceof HpaCalculationError)) throw err;
        proposals.push({ metric: label, error: err.message });
        firstError ??= err.message;
        invalid++;
      }
    }
    const total = this.spec.metrics.length;
    if (invalid >= total || (invalid > 0 && replicas < observed.specReplicas)) {
      return {
        replicas: -1,
        metric: '',
        proposals,
        error: `invalid metrics (${invalid} invalid out of ${total}), first error is: ${firstError}`,
      };
    }
    return { replicas, metric, proposals };
  }

  private computeReplicasForMetric(
    now: number,
    spec: HpaMetricSpec,
    observed: HpaObservation,
  ): number {
    const calc: HpaCalculatorOptions = this.options;
    if (spec.type === 'Resource') {
      const resource = spec.name ?? 'cpu';
      return getResourceReplicas(
        {
          currentReplicas: observed.specReplicas,
          targetUtilization: spec.averageUtilization,
          resource,
          pods: observed.pods,
          metrics: observed.resourceMetrics?.[resource] ?? {},
          now,
        },
        calc,
      ).replicas;
    }
    const values = observed.externalMetrics?.[spec.name];
    if (values === undefined || values.length === 0) {
      throw new HpaCalculationError(
        `unable to get external metric ${spec.name}: no metrics returned`,
      );
    }
    if (spec.target.type === 'AverageValue') {
      return getExternalPerPodMetricReplicas(
        {
          statusReplicas: observed.statusReplicas ?? observed.specReplicas,
          targetAverageValue: spec.target.averageValue,
          metricValues: values,
        },
        calc,
      ).replicas;
    }
    return getExternalMetricReplicas(
      {
        currentReplicas: observed.specReplicas,
        targetValue: spec.target.value,
        metricValues: values,
        pods: observed.pods,
      },
      calc,
    ).replicas;
  }
}
