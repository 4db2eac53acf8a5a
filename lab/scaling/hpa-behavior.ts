// The behavior part of the HPA port (see hpa.ts): stabilization windows and scaling policies of
// kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go. Times in ms, as in hpa.ts.
import { DEFAULT_HPA_OPTIONS } from './hpa-replicas.js';

// ---------------------------------------------------------------------------------------------
// Behavior: stabilization windows and rate-limit policies (horizontal.go)

/** `HPAScalingPolicyType`. */
export type ScalingPolicyType = 'Pods' | 'Percent';

/** One rate limit: at most `value` pods or percent per `periodSeconds`. */
export interface ScalingPolicy {
  /** Pods (absolute) or Percent (of the replicas at the start of the period). */
  type: ScalingPolicyType;
  /** Pods or percent. */
  value: number;
  /** Look-back period, seconds. */
  periodSeconds: number;
}

/** `ScalingPolicySelect`: which policy wins when there are several. */
export type SelectPolicy = 'Max' | 'Min' | 'Disabled';

/** `HPAScalingRules` as written in a manifest; unset fields take upstream's defaults. */
export interface ScalingRules {
  /** Seconds of past recommendations to consider. */
  stabilizationWindowSeconds?: number;
  /** @defaultValue 'Max' */
  selectPolicy?: SelectPolicy;
  /** Rate limits. */
  policies?: readonly ScalingPolicy[];
}

/** `HPAScalingRules` after defaulting: every field set. */
export interface ResolvedScalingRules {
  /** Seconds of past recommendations to consider. */
  stabilizationWindowSeconds: number;
  /** Which policy wins. */
  selectPolicy: SelectPolicy;
  /** Rate limits. */
  policies: readonly ScalingPolicy[];
}

/** `spec.behavior`. */
export interface Behavior {
  /** Rules when the recommendation is above the current count. */
  scaleUp?: ScalingRules;
  /** Rules when it is below. */
  scaleDown?: ScalingRules;
}

/** Both directions resolved. */
export interface ResolvedBehavior {
  /** Scale-up rules. */
  scaleUp: ResolvedScalingRules;
  /** Scale-down rules. */
  scaleDown: ResolvedScalingRules;
}

/** Upstream default scale-up rules: no window, double or +4 pods per 15 s, whichever is more. */
export const DEFAULT_SCALE_UP_RULES: ResolvedScalingRules = Object.freeze({
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: Object.freeze<ScalingPolicy[]>([
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ]),
});

/**
 * Upstream default scale-down rules: remove up to 100% per 15 s. The window is left to the
 * controller's `downscaleStabilizationWindowSeconds` (300 s by default).
 */
export const DEFAULT_SCALE_DOWN_RULES: Readonly<ScalingRules> = Object.freeze({
  selectPolicy: 'Max',
  policies: Object.freeze<ScalingPolicy[]>([{ type: 'Percent', value: 100, periodSeconds: 15 }]),
});

/**
 * API defaulting (`GenerateHPAScaleUpRules`/`GenerateHPAScaleDownRules`) plus the controller's
 * `maybeInitScaleDownStabilizationWindow`. Upstream only does this when the manifest HAS a
 * `behavior`; with none, {@link HpaController} takes the legacy path instead.
 */
export function resolveBehavior(
  behavior: Behavior,
  downscaleStabilizationWindowSeconds = DEFAULT_HPA_OPTIONS.downscaleStabilizationWindowSeconds,
): ResolvedBehavior {
  const up = behavior.scaleUp ?? {};
  const down = behavior.scaleDown ?? {};
  return {
    scaleUp: {
      stabilizationWindowSeconds:
        up.stabilizationWindowSeconds ?? DEFAULT_SCALE_UP_RULES.stabilizationWindowSeconds,
      selectPolicy: up.selectPolicy ?? DEFAULT_SCALE_UP_RULES.selectPolicy,
      policies: up.policies ?? DEFAULT_SCALE_UP_RULES.policies,
    },
    scaleDown: {
      stabilizationWindowSeconds:
        down.stabilizationWindowSeconds ?? downscaleStabilizationWindowSeconds,
      selectPolicy: down.selectPolicy ?? 'Max',
      policies: down.policies ?? DEFAULT_SCALE_DOWN_RULES.policies ?? [],
    },
  };
}

/** A past rescale, as `timestampedScaleEvent`. */
export interface ScaleEvent {
  /** Replicas added (up events) or removed (down events); positive. */
  replicaChange: number;
  /** When (ms). */
  timestamp: number;
  /** Older than every policy period: the slot may be reused. */
  outdated: boolean;
}

/** A past unstabilized recommendation, as `timestampedRecommendation`. */
export interface Recommendation {
  /** Replicas the metrics asked for. */
  recommendation: number;
  /** When (ms). */
  timestamp: number;
}

/** Replicas changed by `events` strictly after `now - periodSeconds`. */
export function getReplicasChangePerPeriod(
  now: number,
  periodSeconds: number,
  events: readonly ScaleEvent[],
): number {
  const cutoff = now - periodSeconds * 1000;
  let replicas = 0;
  for (const event of events) if (event.timestamp > cutoff) replicas += event.replicaChange;
  return replicas;
}

/** The replicas a policy's period started from: current − added + removed within the period. */
function replicasAtPeriodStart(
  now: number,
  periodSeconds: number,
  currentReplicas: number,
  scaleUpEvents: readonly ScaleEvent[],
  scaleDownEvents: readonly ScaleEvent[],
): number {
  const added = getReplicasChangePerPeriod(now, periodSeconds, scaleUpEvents);
  const removed = getReplicasChangePerPeriod(now, periodSeconds, scaleDownEvents);
  return currentReplicas - added + removed;
}

/**
 * The count the policies of one direction allow, from the replicas at the start of each policy's
 * period (current − added + removed within it): up adds Pods or multiplies by (1 + Percent/100)
 * rounded up, down subtracts Pods or multiplies by (1 − Percent/100) truncated. `Max` picks the
 * policy allowing the most change, `Min` the least; `Disabled` returns `currentReplicas`.
 */
function limitByPolicies(
  direction: 'up' | 'down',
  now: number,
  currentReplicas: number,
  scaleUpEvents: readonly ScaleEvent[],
  scaleDownEvents: readonly ScaleEvent[],
  rules: ResolvedScalingRules,
): number {
  if (rules.selectPolicy === 'Disabled') return currentReplicas;
  const sign = direction === 'up' ? 1 : -1;
  // Most change: the highest count going up, the lowest going down; `Min` the other way round.
  const pickHighest = (rules.selectPolicy === 'Max') === (direction === 'up');
  let result = pickHighest ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  for (const policy of rules.policies) {
    const periodStartReplicas = replicasAtPeriodStart(
      now,
      policy.periodSeconds,
      currentReplicas,
      scaleUpEvents,
      scaleDownEvents,
    );
    const scaled = periodStartReplicas * (1 + (sign * policy.value) / 100);
    const proposed =
      policy.type === 'Pods'
        ? periodStartReplicas + sign * policy.value
        : direction === 'up'
          ? Math.ceil(scaled)
          : Math.trunc(scaled);
    result = pickHighest ? Math.max(result, proposed) : Math.min(result, proposed);
  }
  return result;
}

/** The highest count scale-up policies allow (upstream `calculateScaleUpLimitWithScalingRules`). */
export function calculateScaleUpLimitWithScalingRules(
  now: number,
  currentReplicas: number,
  scaleUpEvents: readonly ScaleEvent[],
  scaleDownEvents: readonly ScaleEvent[],
  rules: ResolvedScalingRules,
): number {
  return limitByPolicies('up', now, currentReplicas, scaleUpEvents, scaleDownEvents, rules);
}

/** The lowest count scale-down policies allow (upstream `calculateScaleDownLimitWithBehaviors`). */
export function calculateScaleDownLimitWithBehaviors(
  now: number,
  currentReplicas: number,
  scaleUpEvents: readonly ScaleEvent[],
  scaleDownEvents: readonly ScaleEvent[],
  rules: ResolvedScalingRules,
): number {
  return limitByPolicies('down', now, currentReplicas, scaleUpEvents, scaleDownEvents, rules);
}

/** What {@link normalizeDesiredReplicasWithBehaviors} needs. */
export interface NormalizationArgs {
  /** Resolved scale-up rules. */
  scaleUp: ResolvedScalingRules;
  /** Resolved scale-down rules. */
  scaleDown: ResolvedScalingRules;
  /** `spec.minReplicas` (1 when unset). */
  minReplicas: number;
  /** `spec.maxReplicas`. */
  maxReplicas: number;
  /** The target's `spec.replicas`. */
  currentReplicas: number;
  /** The recommendation to normalize. */
  desiredReplicas: number;
}

/** A count with the reason upstream would put in the HPA's condition. */
export interface ReplicasWithReason {
  /** Replica count. */
  replicas: number;
  /** Condition reason, e.g. `ScaleDownStabilized`, `ScaleUpLimit`, `DesiredWithinRange`. */
  reason: string;
}

/**
 * `stabilizeRecommendationWithBehaviors`: bounds the current count between the lowest
 * recommendation in the scale-up window and the highest in the scale-down window (both including
 * this one), then records this recommendation, reusing a slot older than both windows.
 * Mutates `recommendations`.
 */
export function stabilizeRecommendationWithBehaviors(
  now: number,
  recommendations: Recommendation[],
  args: Pick<NormalizationArgs, 'scaleUp' | 'scaleDown' | 'currentReplicas' | 'desiredReplicas'>,
): ReplicasWithReason {
  const upCutoff = now - args.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = now - args.scaleDown.stabilizationWindowSeconds * 1000;
  let upRecommendation = args.desiredReplicas;
  let downRecommendation = args.desiredReplicas;
  let oldSampleIndex = -1;
  recommendations.forEach((rec, i) => {
    if (rec.timestamp > upCutoff) upRecommendation = Math.min(rec.recommendation, upRecommendation);
    if (rec.timestamp > downCutoff) {
      downRecommendation = Math.max(rec.recommendation, downRecommendation);
    }
    if (rec.timestamp < upCutoff && rec.timestamp < downCutoff) oldSampleIndex = i;
  });

  let recommendation = args.currentReplicas;
  if (recommendation < upRecommendation) recommendation = upRecommendation;
  if (recommendation > downRecommendation) recommendation = downRecommendation;

  const entry = { recommendation: args.desiredReplicas, timestamp: now };
  if (oldSampleIndex >= 0) recommendations[oldSampleIndex] = entry;
  else recommendations.push(entry);

  return {
    replicas: recommendation,
    reason:
      args.desiredReplicas >= args.currentReplicas ? 'ScaleUpStabilized' : 'ScaleDownStabilized',
  };
}

/**
 * `convertDesiredReplicasWithBehaviorRate`: caps a scale-up at min(maxReplicas, policy limit)
 * and a scale-down at max(minReplicas, policy limit); a limit on the wrong side of the current
 * count (events still in the period) holds the current count.
 */
export function convertDesiredReplicasWithBehaviorRate(
  now: number,
  args: NormalizationArgs,
  scaleUpEvents: readonly ScaleEvent[],
  scaleDownEvents: readonly ScaleEvent[],
): ReplicasWithReason {
  const { currentReplicas, desiredReplicas } = args;
  if (desiredReplicas > currentReplicas) {
    const limit = Math.max(
      currentReplicas,
      calculateScaleUpLimitWithScalingRules(
        now,
        currentReplicas,
        scaleUpEvents,
        scaleDownEvents,
        args.scaleUp,
      ),
    );
    const [maximum, reason] =
      args.maxReplicas > limit ? [limit, 'ScaleUpLimit'] : [args.maxReplicas, 'TooManyReplicas'];
    if (desiredReplicas > maximum) return { replicas: maximum, reason };
  } else if (desiredReplicas < currentReplicas) {
    const limit = Math.min(
      currentReplicas,
      calculateScaleDownLimitWithBehaviors(
        now,
        currentReplicas,
        scaleUpEvents,
        scaleDownEvents,
        args.scaleDown,
      ),
    );
    const [minimum, reason] =
      args.minReplicas < limit ? [limit, 'ScaleDownLimit'] : [args.minReplicas, 'TooFewReplicas'];
    if (desiredReplicas < minimum) return { replicas: minimum, reason };
  }
  return { replicas: desiredReplicas, reason: 'DesiredWithinRange' };
}

/** Result of a normalization: the count and both condition reasons. */
export interface NormalizedReplicas {
  /** Replica count after stabilization and limits. */
  replicas: number;
  /** AbleToScale reason: `ScaleUpStabilized`, `ScaleDownStabilized` or `ReadyForNewScale`. */
  stabilizationReason: string;
  /** ScalingLimited reason, e.g. `ScaleUpLimit`, `TooFewReplicas`, `DesiredWithinRange`. */
  limitReason: string;
}

/**
 * `normalizeDesiredReplicasWithBehaviors`: stabilization, then rate limits and min/max.
 * Mutates `recommendations`.
 */
export function normalizeDesiredReplicasWithBehaviors(
  now: number,
  args: NormalizationArgs,
  recommendations: Recommendation[],
  scaleUpEvents: readonly ScaleEvent[],
  scaleDownEvents: readonly ScaleEvent[],
): NormalizedReplicas {
  const stabilized = stabilizeRecommendationWithBehaviors(now, recommendations, args);
  const limited = convertDesiredReplicasWithBehaviorRate(
    now,
    { ...args, desiredReplicas: stabilized.replicas },
    scaleUpEvents,
    scaleDownEvents,
  );
  return {
    replicas: limited.replicas,
    stabilizationReason:
      stabilized.replicas !== args.desiredReplicas ? stabilized.reason : 'ReadyForNewScale',
    limitReason: limited.reason,
  };
}

/** Legacy scale-up cap when the HPA has no behavior: max(2 × current, 4). */
export function calculateScaleUpLimit(currentReplicas: number): number {
  return Math.trunc(Math.max(2.0 * currentReplicas, 4.0));
}

/**
 * `stabilizeRecommendation` (no behavior): the highest recommendation not older than the
 * downscale window, this one included; records it, reusing a slot older than the window.
 * Mutates `recommendations`.
 */
export function stabilizeRecommendation(
  now: number,
  recommendations: Recommendation[],
  desiredReplicas: number,
  downscaleStabilizationWindowSeconds: number,
): number {
  const cutoff = now - downscaleStabilizationWindowSeconds * 1000;
  let maxRecommendation = desiredReplicas;
  let oldSampleIndex = -1;
  recommendations.forEach((rec, i) => {
    if (rec.timestamp < cutoff) oldSampleIndex = i;
    else if (rec.recommendation > maxRecommendation) maxRecommendation = rec.recommendation;
  });
  const entry = { recommendation: desiredReplicas, timestamp: now };
  if (oldSampleIndex >= 0) recommendations[oldSampleIndex] = entry;
  else recommendations.push(entry);
  return maxRecommendation;
}

/** `convertDesiredReplicasWithRules` (no behavior): min, then min(max, legacy scale-up cap). */
export function convertDesiredReplicasWithRules(
  currentReplicas: number,
  desiredReplicas: number,
  minReplicas: number,
  maxReplicas: number,
): ReplicasWithReason {
  const scaleUpLimit = calculateScaleUpLimit(currentReplicas);
  const [maximum, reason] =
    maxReplicas > scaleUpLimit ? [scaleUpLimit, 'ScaleUpLimit'] : [maxReplicas, 'TooManyReplicas'];
  if (desiredReplicas < minReplicas) return { replicas: minReplicas, reason: 'TooFewReplicas' };
  if (desiredReplicas > maximum) return { replicas: maximum, reason };
  return { replicas: desiredReplicas, reason: 'DesiredWithinRange' };
}

/** Longest `periodSeconds` among the policies (0 without policies). */
export function getLongestPolicyPeriod(rules: ResolvedScalingRules): number {
  return rules.policies.reduce((longest, policy) => Math.max(longest, policy.periodSeconds), 0);
}

/** Flags events older than `now - longestPolicyPeriod` as reusable. Mutates `events`. */
export function markScaleEventsOutdated(
  now: number,
  events: ScaleEvent[],
  longestPolicyPeriodSeconds: number,
): void {
  const cutoff = now - longestPolicyPeriodSeconds * 1000;
  for (const event of events) if (event.timestamp < cutoff) event.outdated = true;
}

/**
 * `storeScaleEvent`: records a rescale in the up or down log, overwriting the last outdated
 * event if there is one. Without a behavior nothing is stored (the legacy path never reads it).
 * Mutates the logs.
 */
export function storeScaleEvent(
  now: number,
  behavior: ResolvedBehavior | undefined,
  scaleUpEvents: ScaleEvent[],
  scaleDownEvents: ScaleEvent[],
  prevReplicas: number,
  newReplicas: number,
): void {
  if (behavior === undefined) return;
  const up = newReplicas > prevReplicas;
  const events = up ? scaleUpEvents : scaleDownEvents;
  markScaleEventsOutdated(
    now,
    events,
    getLongestPolicyPeriod(up ? behavior.scaleUp : behavior.scaleDown),
  );
  let oldSampleIndex = -1;
  events.forEach((event, i) => {
    if (event.outdated) oldSampleIndex = i;
  });
  const entry: ScaleEvent = {
    replicaChange: up ? newReplicas - prevReplicas : prevReplicas - newReplicas,
    timestamp: now,
    outdated: false,
  };
  if (oldSampleIndex >= 0) events[oldSampleIndex] = entry;
  else events.push(entry);
}
