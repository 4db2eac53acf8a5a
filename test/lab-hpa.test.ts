// Pins lab/scaling/hpa.ts against worked examples from kubernetes/kubernetes
// pkg/controller/podautoscaler/replica_calculator_test.go and horizontal_test.go. Each case names
// the upstream test it mirrors; the numbers are upstream's, so a reader can check them there.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SCALE_UP_RULES,
  HpaController,
  calculateScaleDownLimitWithBehaviors,
  calculateScaleUpLimitWithScalingRules,
  convertDesiredReplicasWithBehaviorRate,
  convertDesiredReplicasWithRules,
  getExternalMetricReplicas,
  getExternalPerPodMetricReplicas,
  getReplicasChangePerPeriod,
  getResourceReplicas,
  resolveBehavior,
  stabilizeRecommendation,
  stabilizeRecommendationWithBehaviors,
  storeScaleEvent,
  type ConditionStatus,
  type HpaPod,
  type PodMetrics,
  type PodPhase,
  type Recommendation,
  type ResolvedScalingRules,
  type ScaleEvent,
} from '../lab/scaling/hpa.js';

const NOW = 1_700_000_000_000;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
// defaultTestingCPUInitializationPeriod (2 min) and defaultTestingDelayOfInitialReadinessStatus (10 s).
const TESTING = {
  tolerance: 0.1,
  cpuInitializationPeriodSeconds: 120,
  initialReadinessDelaySeconds: 10,
};

interface Fixture {
  currentReplicas: number;
  /** Per container, milli-CPU (upstream's `requests`). */
  requests: number[];
  /** Per container, milli-CPU (upstream's `levels`). */
  levels: number[];
  readiness?: ConditionStatus[];
  phase?: PodPhase[];
  startTime?: number[];
  podNames?: string[];
}

// The replica_calculator_test.go fixture: every pod has numContainersPerPod = 2 containers, each
// requesting `requests[i]` and using `levels[i]`; unset times are Go's zero time (here 0), and the
// metric window is one minute.
function fixture(f: Fixture): { pods: HpaPod[]; metrics: PodMetrics } {
  const count = Math.max(f.currentReplicas, f.phase?.length ?? 0);
  const pods: HpaPod[] = Array.from({ length: count }, (_, i) => ({
    name: `test-pod-${i}`,
    phase: f.phase?.[i] ?? 'Running',
    ready: { status: f.readiness?.[i] ?? 'True', lastTransitionTime: 0 },
    startTime: f.startTime?.[i] ?? 0,
    requestsMilli:
      i < f.requests.length ? { cpu: 2 * f.requests[i] } : ({} as Record<string, number>),
  }));
  const metrics: Record<string, { value: number; timestamp: number; windowMs: number }> = {};
  f.levels.forEach((level, i) => {
    metrics[f.podNames?.[i] ?? `test-pod-${i}`] = {
      value: 2 * level,
      timestamp: 0,
      windowMs: MINUTE,
    };
  });
  return { pods, metrics };
}

function resourceReplicas(f: Fixture, targetUtilization: number) {
  const { pods, metrics } = fixture(f);
  return getResourceReplicas(
    { currentReplicas: f.currentReplicas, targetUtilization, pods, metrics, now: NOW },
    TESTING,
  );
}

const ones = (n: number) => Array<number>(n).fill(1000);
const hot = NOW; // hotCPUCreationTime(): started now
const cool = NOW - 3 * MINUTE; // coolCPUCreationTime()

describe('getResourceReplicas', () => {
  it('should scale up by CPU utilization', () => {
    // replica_calculator_test.go TestReplicaCalcScaleUp
    const r = resourceReplicas(
      { currentReplicas: 3, requests: ones(3), levels: [300, 500, 700] },
      30,
    );
    expect(r).toEqual({ replicas: 5, utilization: 50, rawUtilization: 2 * 500 });
  });

  it('should scale down by CPU utilization', () => {
    // replica_calculator_test.go TestReplicaCalcScaleDown
    const r = resourceReplicas(
      { currentReplicas: 5, requests: ones(5), levels: [100, 300, 500, 250, 250] },
      50,
    );
    expect(r).toEqual({ replicas: 3, utilization: 28, rawUtilization: 2 * 280 });
  });

  it('should keep the count within the tolerance', () => {
    // replica_calculator_test.go TestReplicaCalcTolerance: 102% of a 100% target
    const r = resourceReplicas(
      { currentReplicas: 3, requests: [900, 1000, 1100], levels: [1010, 1030, 1020] },
      100,
    );
    expect(r).toEqual({ replicas: 3, utilization: 102, rawUtilization: 2 * 1020 });
  });

  it('should count unready pods as 0% on scale-up', () => {
    // replica_calculator_test.go TestReplicaCalcScaleUpUnreadyLessScale
    const r = resourceReplicas(
      {
        currentReplicas: 3,
        requests: ones(3),
        levels: [300, 500, 700],
        readiness: ['False', 'True', 'True'],
      },
      30,
    );
    expect(r).toEqual({ replicas: 4, utilization: 60, rawUtilization: 2 * 600 });
  });

  it('should cancel the scale-up when the unready pods flip its direction', () => {
    // replica_calculator_test.go TestReplicaCalcScaleUpUnreadyNoScale
    const r = resourceReplicas(
      {
        currentReplicas: 3,
        requests: ones(3),
        levels: [400, 500, 700],
        readiness: ['True', 'False', 'False'],
      },
      30,
    );
    expect(r).toEqual({ replicas: 3, utilization: 40, rawUtilization: 2 * 400 });
  });

  it('should treat a pod still in its CPU initialization period as unready', () => {
    // replica_calculator_test.go TestReplicaCalcScaleUpHotCpuLessScale
    const r = resourceReplicas(
      {
        currentReplicas: 3,
        requests: ones(3),
        levels: [300, 500, 700],
        startTime: [hot, cool, cool],
      },
      30,
    );
    expect(r).toEqual({ replicas: 4, utilization: 60, rawUtilization: 2 * 600 });
  });

  it('should leave failed pods out', () => {
    // replica_calculator_test.go TestReplicaCalcScaleUpIgnoresFailedPods
    const r = resourceReplicas(
      {
        currentReplicas: 2,
        requests: ones(4),
        levels: [500, 700],
        readiness: ['True', 'True', 'False', 'False'],
        phase: ['Running', 'Running', 'Failed', 'Failed'],
      },
      30,
    );
    expect(r).toEqual({ replicas: 4, utilization: 60, rawUtilization: 2 * 600 });
  });

  it('should not count pending pods on scale-down', () => {
    // replica_calculator_test.go TestReplicaCalcScaleDownExcludeUnscheduledPods
    const r = resourceReplicas(
      {
        currentReplicas: 5,
        requests: ones(5),
        levels: [100],
        readiness: ['True', 'False', 'False', 'False', 'False'],
        phase: ['Running', 'Pending', 'Pending', 'Pending', 'Pending'],
      },
      50,
    );
    expect(r).toEqual({ replicas: 1, utilization: 10, rawUtilization: 2 * 100 });
  });

  it('should assume 100% of request for pods missing metrics on scale-down', () => {
    // replica_calculator_test.go TestReplicaCalcMissingMetrics: 24% → (990 + 2×2000) / 8000 = 62%
    const r = resourceReplicas({ currentReplicas: 4, requests: ones(4), levels: [400, 95] }, 100);
    expect(r).toEqual({ replicas: 3, utilization: 24, rawUtilization: 495 });
  });

  it('should combine an unready pod and a missing metric on scale-down', () => {
    // replica_calculator_test.go TestReplicaCalcMissingMetricsUnreadyScaleDown
    const r = resourceReplicas(
      {
        currentReplicas: 4,
        requests: ones(4),
        levels: [100, 100, 100],
        readiness: ['False', 'True', 'True', 'True'],
      },
      50,
    );
    expect(r).toEqual({ replicas: 3, utilization: 10, rawUtilization: 2 * 100 });
  });

  it('should assume 0% for pods missing metrics on scale-up, and cancel when that flips it', () => {
    // replica_calculator_test.go TestReplicaCalcMissingMetricsNoChangeGt
    const r = resourceReplicas({ currentReplicas: 2, requests: ones(2), levels: [1900] }, 100);
    expect(r).toEqual({ replicas: 2, utilization: 190, rawUtilization: 2 * 1900 });
  });

  it('should multiply by the ready pods, ignoring metrics of unknown pods', () => {
    // replica_calculator_test.go TestReplicaCalcSuperfluousMetrics
    const r = resourceReplicas(
      { currentReplicas: 4, requests: ones(4), levels: [4000, 9500, 3000, 7000, 3200, 2000] },
      100,
    );
    expect(r).toEqual({ replicas: 24, utilization: 587, rawUtilization: 2 * 5875 });
  });

  it('should fail without a request or without matching metrics', () => {
    // replica_calculator_test.go TestReplicaCalcEmptyCPURequest
    expect(() =>
      resourceReplicas({ currentReplicas: 1, requests: [], levels: [200] }, 100),
    ).toThrow(/missing request for/);
    // replica_calculator_test.go TestReplicaCalcDisjointResourcesMetrics
    expect(() =>
      resourceReplicas(
        { currentReplicas: 1, requests: ones(1), levels: [100], podNames: ['an-older-pod-name'] },
        100,
      ),
    ).toThrow('no metrics returned matched known pods');
  });
});

describe('external metrics', () => {
  const pods = (readiness: ConditionStatus[]) =>
    fixture({ currentReplicas: readiness.length, requests: [], levels: [], readiness }).pods;

  it('should scale a Value target by the ready pods only', () => {
    // replica_calculator_test.go TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods
    const r = getExternalMetricReplicas(
      {
        currentReplicas: 3,
        targetValue: 4400,
        metricValues: [8600],
        pods: pods(['False', 'True', 'False']),
      },
      TESTING,
    );
    expect(r).toEqual({ replicas: 2, usage: 8600 });
  });

  it('should scale a Value target down and keep it within tolerance', () => {
    const five = pods(['True', 'True', 'True', 'True', 'True']);
    // replica_calculator_test.go TestReplicaCalcScaleDownCMExternal
    expect(
      getExternalMetricReplicas(
        { currentReplicas: 5, targetValue: 14334, metricValues: [8600], pods: five },
        TESTING,
      ).replicas,
    ).toBe(3);
    // replica_calculator_test.go TestReplicaCalcToleranceCMExternal
    expect(
      getExternalMetricReplicas(
        { currentReplicas: 3, targetValue: 8888, metricValues: [8600], pods: five.slice(0, 3) },
        TESTING,
      ).replicas,
    ).toBe(3);
  });

  it('should scale an AverageValue target to ceil(total / target)', () => {
    // replica_calculator_test.go TestReplicaCalcScaleUpPerPodCMExternal
    expect(
      getExternalPerPodMetricReplicas(
        { statusReplicas: 3, targetAverageValue: 2150, metricValues: [8600] },
        TESTING,
      ),
    ).toEqual({ replicas: 4, usage: 2867 });
    // replica_calculator_test.go TestReplicaCalcScaleDownPerPodCMExternal
    expect(
      getExternalPerPodMetricReplicas(
        { statusReplicas: 5, targetAverageValue: 2867, metricValues: [8600] },
        TESTING,
      ),
    ).toEqual({ replicas: 3, usage: 1720 });
    // replica_calculator_test.go TestReplicaCalcTolerancePerPodCMExternal
    expect(
      getExternalPerPodMetricReplicas(
        { statusReplicas: 3, targetAverageValue: 2900, metricValues: [8600] },
        TESTING,
      ),
    ).toEqual({ replicas: 3, usage: 2867 });
  });
});

// horizontal_test.go generateScalingRules: Pods and/or Percent policies, selectPolicy Max.
function rules(
  pods: number,
  podsPeriod: number,
  percent: number,
  percentPeriod: number,
  stabilizationWindowSeconds: number,
): ResolvedScalingRules {
  const policies: ResolvedScalingRules['policies'][number][] = [];
  if (pods !== 0) policies.push({ type: 'Pods', value: pods, periodSeconds: podsPeriod });
  if (percent !== 0)
    policies.push({ type: 'Percent', value: percent, periodSeconds: percentPeriod });
  return { stabilizationWindowSeconds, selectPolicy: 'Max', policies };
}

// horizontal_test.go generateEventsUniformDistribution: events centred in equal slices of the
// last `periodSeconds`.
function events(changes: number[], periodSeconds: number): ScaleEvent[] {
  const segment = periodSeconds / changes.length;
  return changes.map((replicaChange, idx) => ({
    replicaChange,
    timestamp: NOW - Math.trunc(periodSeconds - segment * (idx + 1) + segment / 2) * SECOND,
    outdated: false,
  }));
}

// horizontal_test.go TestScalingWithRules: convertDesiredReplicasWithBehaviorRate with
// GenerateHPAScale{Up,Down}Rules(tc.rules).
function withRules(tc: {
  current: number;
  desired: number;
  min: number;
  max: number;
  up?: ResolvedScalingRules;
  down?: ResolvedScalingRules;
  upEvents?: ScaleEvent[];
  downEvents?: ScaleEvent[];
}) {
  const behavior = resolveBehavior({ scaleUp: tc.up, scaleDown: tc.down });
  return convertDesiredReplicasWithBehaviorRate(
    NOW,
    {
      ...behavior,
      minReplicas: tc.min,
      maxReplicas: tc.max,
      currentReplicas: tc.current,
      desiredReplicas: tc.desired,
    },
    tc.upEvents ?? [],
    tc.downEvents ?? [],
  );
}

describe('scaling policies', () => {
  it('should double or add 4 pods per 15 s with the default scale-up rules', () => {
    // horizontal_test.go TestScalingWithRules "scaleUp with default behavior"
    expect(DEFAULT_SCALE_UP_RULES.policies).toHaveLength(2);
    expect(withRules({ current: 10, desired: 50, min: 1, max: 1000 })).toEqual({
      replicas: 20,
      reason: 'ScaleUpLimit',
    });
  });

  it('should pick the larger policy with selectPolicy Max', () => {
    // horizontal_test.go TestScalingWithRules "scaleUp with pods policy larger than percent policy"
    expect(
      withRules({ current: 10, desired: 500, min: 1, max: 1000, up: rules(100, 60, 100, 60, 0) }),
    ).toEqual({ replicas: 110, reason: 'ScaleUpLimit' });
    // horizontal_test.go TestScalingWithRules "scaleUp with percent policy larger than pods policy"
    expect(
      withRules({ current: 10, desired: 500, min: 1, max: 1000, up: rules(2, 60, 100, 60, 0) }),
    ).toEqual({ replicas: 20, reason: 'ScaleUpLimit' });
  });

  it('should pick the smaller change with selectPolicy Min', () => {
    const min: ResolvedScalingRules = { ...rules(2, 60, 50, 60, 300), selectPolicy: 'Min' };
    // horizontal_test.go TestCalculateScaleUpLimitWithScalingRules: min(1+2, ceil(1×1.5)) = 2
    expect(calculateScaleUpLimitWithScalingRules(NOW, 1, [], [], min)).toBe(2);
    // horizontal_test.go TestCalculateScaleDownLimitWithBehaviors: max(5−2, trunc(5×0.5)) = 3
    expect(calculateScaleDownLimitWithBehaviors(NOW, 5, [], [], min)).toBe(3);
  });

  it('should count the period from the replicas before recent scale events', () => {
    // horizontal_test.go TestScalingWithRules "scaleUp with pod policy and previous scale up events"
    expect(
      withRules({
        current: 100,
        desired: 500,
        min: 1,
        max: 1000,
        up: rules(150, 120, 0, 0, 0),
        upEvents: events([1, 5, 9], 120),
      }),
    ).toEqual({ replicas: 235, reason: 'ScaleUpLimit' }); // 100 − 15 + 150
    // horizontal_test.go TestScalingWithRules "scaleUp with percent policy and previous scale up and down events"
    expect(
      withRules({
        current: 6,
        desired: 24,
        min: 1,
        max: 1000,
        up: rules(0, 0, 300, 300, 0),
        upEvents: events([4], 120),
        downEvents: events([2], 120),
      }),
    ).toEqual({ replicas: 16, reason: 'ScaleUpLimit' }); // (6 − 4 + 2) × 4
  });

  it('should limit scale-down by Pods and Percent policies', () => {
    // horizontal_test.go TestScalingWithRules "scaleDown with pod policy limitation"
    expect(
      withRules({ current: 10, desired: 2, min: 1, max: 1000, down: rules(5, 60, 0, 0, 300) }),
    ).toEqual({ replicas: 5, reason: 'ScaleDownLimit' });
    // horizontal_test.go TestScalingWithRules "scaleDown with percent policy and previous scale up and down events"
    expect(
      withRules({
        current: 10,
        desired: 1,
        min: 1,
        max: 1000,
        down: rules(0, 0, 50, 180, 0),
        upEvents: events([2], 120),
        downEvents: events([4], 120),
      }),
    ).toEqual({ replicas: 6, reason: 'ScaleDownLimit' }); // (10 − 2 + 4) × 50%
    // horizontal_test.go TestScalingWithRules "scaleDown with previous events preventing further scale down"
    expect(
      withRules({
        current: 100,
        desired: 0,
        min: 1,
        max: 1000,
        down: rules(0, 0, 10, 120, 300),
        downEvents: events([10, 10, 10], 120),
      }),
    ).toEqual({ replicas: 100, reason: 'ScaleDownLimit' }); // (100 + 30) − 10% = 117 > 100
  });

  it('should clamp to minReplicas and maxReplicas', () => {
    // horizontal_test.go TestScalingWithRules "prenormalized desired replicas < minReplicas"
    expect(withRules({ current: 3, desired: 1, min: 2, max: 8 })).toEqual({
      replicas: 2,
      reason: 'TooFewReplicas',
    });
    // horizontal_test.go TestScalingWithRules "desired replica count is more than the maximum replica count"
    expect(withRules({ current: 100, desired: 1000, min: 100, max: 150 })).toEqual({
      replicas: 150,
      reason: 'TooManyReplicas',
    });
    // horizontal_test.go TestScalingWithRules "scaleDown with spec MinReplicas limitation with large percent policy"
    expect(
      withRules({ current: 10, desired: 2, min: 5, max: 1000, down: rules(0, 0, 100, 60, 300) }),
    ).toEqual({ replicas: 5, reason: 'TooFewReplicas' });
  });

  it('should hold the current count with selectPolicy Disabled', () => {
    // No upstream worked example: pins horizontal.go calculateScale{Up,Down}Limit… returning
    // currentReplicas for DisabledPolicySelect.
    const disabled: ResolvedScalingRules = {
      ...rules(4, 15, 100, 15, 0),
      selectPolicy: 'Disabled',
    };
    expect(withRules({ current: 3, desired: 10, min: 1, max: 10, up: disabled })).toEqual({
      replicas: 3,
      reason: 'ScaleUpLimit',
    });
    expect(withRules({ current: 3, desired: 1, min: 1, max: 10, down: disabled })).toEqual({
      replicas: 3,
      reason: 'ScaleDownLimit',
    });
  });

  it('should use the legacy max(2×, 4) cap when the HPA has no behavior', () => {
    // horizontal_test.go TestConvertDesiredReplicasWithRules
    expect(convertDesiredReplicasWithRules(3, 1000, 1, 2000)).toEqual({
      replicas: 6,
      reason: 'ScaleUpLimit',
    });
    expect(convertDesiredReplicasWithRules(20, 1000, 1, 10)).toEqual({
      replicas: 10,
      reason: 'TooManyReplicas',
    });
  });
});

describe('stabilization', () => {
  const recs = (...pairs: [number, number][]): Recommendation[] =>
    pairs.map(([recommendation, ago]) => ({ recommendation, timestamp: NOW - ago }));
  const windows = (up: number, down: number) => ({
    scaleUp: { ...rules(0, 0, 0, 0, up) },
    scaleDown: { ...rules(0, 0, 0, 0, down) },
  });

  it('should apply the highest recommendation of the scale-down window', () => {
    // horizontal_test.go TestNormalizeDesiredReplicasWithBehavior "simple scale down stabilization"
    const log = recs([4, 2 * MINUTE], [5, MINUTE]);
    const r = stabilizeRecommendationWithBehaviors(NOW, log, {
      ...windows(0, 180),
      currentReplicas: 100,
      desiredReplicas: 3,
    });
    expect(r).toEqual({ replicas: 5, reason: 'ScaleDownStabilized' });
    expect(log.map((x) => x.recommendation)).toEqual([4, 5, 3]);
  });

  it('should apply the lowest recommendation of the scale-up window', () => {
    // horizontal_test.go TestNormalizeDesiredReplicasWithBehavior "simple scale up stabilization"
    const r = stabilizeRecommendationWithBehaviors(NOW, recs([4, 2 * MINUTE], [5, MINUTE]), {
      ...windows(300, 0),
      currentReplicas: 1,
      desiredReplicas: 7,
    });
    expect(r.replicas).toBe(4);
  });

  it('should not move against a recent recommendation in either window', () => {
    // horizontal_test.go TestNormalizeDesiredReplicasWithBehavior
    // "scale up and down stabilization, do not scale up when prenormalized rec goes down"
    const r = stabilizeRecommendationWithBehaviors(NOW, recs([2, 100 * MINUTE], [3, 3 * MINUTE]), {
      ...windows(300, 300),
      currentReplicas: 2,
      desiredReplicas: 1,
    });
    expect(r.replicas).toBe(2);
  });

  it('should reuse the slot of a recommendation older than both windows', () => {
    // horizontal_test.go TestNormalizeDesiredReplicasWithBehavior
    // "scale up stabilization, reuse one of obsolete recommendation element"
    const log = recs([10, 100 * MINUTE], [6, MINUTE], [5, 2 * MINUTE], [9, 3 * MINUTE]);
    const r = stabilizeRecommendationWithBehaviors(NOW, log, {
      ...windows(300, 0),
      currentReplicas: 1,
      desiredReplicas: 100,
    });
    expect(r.replicas).toBe(5);
    expect(log.map((x) => x.recommendation)).toEqual([100, 6, 5, 9]);
  });

  it('should take the max over the downscale window on the legacy path', () => {
    // horizontal_test.go TestNormalizeDesiredReplicas "stabilize - old recommendations"
    const log = recs([10, 10 * MINUTE], [4, MINUTE], [5, 2 * MINUTE], [9, 9 * MINUTE]);
    expect(stabilizeRecommendation(NOW, log, 3, 300)).toBe(5);
    expect(log).toHaveLength(4);
  });

  it('should store scale events, overwriting an outdated one', () => {
    // horizontal_test.go TestStoreScaleEvents "replace one entry, use policies with different periods"
    const up: ScaleEvent[] = [
      { replicaChange: 8, timestamp: NOW - 29 * SECOND, outdated: false },
      { replicaChange: 6, timestamp: NOW - 59 * SECOND, outdated: false },
      { replicaChange: 7, timestamp: NOW - 61 * SECOND, outdated: false },
      { replicaChange: 9, timestamp: NOW - 61 * SECOND, outdated: false },
    ];
    expect(getReplicasChangePerPeriod(NOW, 60, up)).toBe(14);
    const behavior = resolveBehavior({ scaleUp: rules(10, 60, 100, 30, 0) });
    storeScaleEvent(NOW, behavior, up, [], 10, 15);
    expect(up.map((e) => [e.replicaChange, e.outdated])).toEqual([
      [8, false],
      [6, false],
      [7, true],
      [5, false],
    ]);
  });
});

describe('HpaController', () => {
  // n Running, Ready pods started long ago, 1 CPU requested each, each using `usage` milli-CPU.
  function cluster(n: number, usage: number, now: number) {
    const pods: HpaPod[] = [];
    const cpu: Record<string, { value: number; timestamp: number; windowMs: number }> = {};
    for (let i = 0; i < n; i++) {
      const name = `pod-${i}`;
      pods.push({
        name,
        phase: 'Running',
        ready: { status: 'True', lastTransitionTime: now - 60 * MINUTE },
        startTime: now - 60 * MINUTE,
        requestsMilli: { cpu: 1000 },
      });
      cpu[name] = { value: usage, timestamp: now, windowMs: MINUTE };
    }
    return { specReplicas: n, pods, resourceMetrics: { cpu } };
  }
  const cpu50 = [{ type: 'Resource' as const, averageUtilization: 50 }];

  it('should hold a scale-down for the 300 s window, then apply it', () => {
    // horizontal_test.go TestNormalizeDesiredReplicasWithBehavior (scale-down window) driven
    // through reconcile; TestReplicaCalcScaleDown's ratio (28% of 50%) asks 5 → 3.
    const hpa = new HpaController({ maxReplicas: 10, metrics: cpu50, behavior: {} });
    const levels = [100, 300, 500, 250, 250].map((l) => 2 * l);
    let replicas = 5;
    const seen: [number, number][] = [];
    for (let t = 0; t <= 300; t += 15) {
      const now = NOW + t * SECOND;
      const observed = cluster(replicas, 0, now);
      observed.pods.forEach((pod, i) => {
        observed.resourceMetrics.cpu[pod.name].value = levels[i] ?? 0;
        pod.requestsMilli = { cpu: 2000 };
      });
      const d = hpa.reconcile(now, observed);
      if (d.rescale) replicas = d.desiredReplicas;
      seen.push([t, replicas]);
    }
    expect(seen.find(([t]) => t === 285)).toEqual([285, 5]);
    expect(seen.find(([t]) => t === 300)).toEqual([300, 3]);
  });

  it('should keep the legacy window inclusive when the HPA has no behavior', () => {
    // horizontal_test.go TestStabilizeDownscale: legacy stabilizeRecommendation keeps 4 while a
    // 4 recommended a minute ago is in the window, although the metrics ask for 2.
    const hpa = new HpaController({
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [{ type: 'Resource', averageUtilization: 100 }],
    });
    hpa.recommendations.push(
      { recommendation: 10, timestamp: NOW - 10 * MINUTE },
      { recommendation: 4, timestamp: NOW - MINUTE },
    );
    const observed = { ...cluster(3, 50, NOW), specReplicas: 4 };
    observed.pods.forEach((pod) => (pod.requestsMilli = { cpu: 100 }));
    const d = hpa.reconcile(NOW, observed);
    expect(d).toMatchObject({ desiredReplicas: 4, rescale: false, metricReplicas: 2 });
    expect(d.stabilizationReason).toBe('ScaleDownStabilized');
  });

  it('should remove at most 1 pod per 60 s with a Pods 1/60 s scale-down policy', () => {
    // horizontal_test.go TestScalingWithRules "scaleDown with pod policy limitation" and
    // "scaleDown with pod policy limitation and previous events", over successive syncs.
    const hpa = new HpaController({
      maxReplicas: 10,
      metrics: cpu50,
      behavior: {
        scaleDown: {
          stabilizationWindowSeconds: 0,
          policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }],
        },
      },
    });
    let replicas = 5;
    const changes: [number, number][] = [];
    for (let t = 0; t <= 300; t += 15) {
      const now = NOW + t * SECOND;
      const d = hpa.reconcile(now, cluster(replicas, 100, now)); // 10% of a 50% target
      if (d.rescale) {
        replicas = d.desiredReplicas;
        changes.push([t, replicas]);
      }
    }
    expect(changes).toEqual([
      [0, 4],
      [60, 3],
      [120, 2],
      [180, 1],
    ]);
  });

  it('should scale up 1 → 5 with behavior {} but 1 → 4 on the legacy path', () => {
    // horizontal_test.go TestScalingWithRules "scaleUp with default behavior" (max(+4, ×2)) vs
    // TestConvertDesiredReplicasWithRules (legacy max(2×, 4)); 500% of a 50% target asks for 10.
    const spec = { minReplicas: 1, maxReplicas: 10, metrics: cpu50 };
    const withDefaults = new HpaController({ ...spec, behavior: {} });
    const legacy = new HpaController(spec);
    expect(withDefaults.reconcile(NOW, cluster(1, 5000, NOW))).toMatchObject({
      desiredReplicas: 5,
      limitReason: 'ScaleUpLimit',
    });
    expect(legacy.reconcile(NOW, cluster(1, 5000, NOW))).toMatchObject({
      desiredReplicas: 4,
      limitReason: 'ScaleUpLimit',
    });
  });

  it('should not autoscale a target scaled to 0 by hand when minReplicas >= 1', () => {
    // horizontal_test.go TestZeroReplicas
    const hpa = new HpaController({ minReplicas: 3, maxReplicas: 5, metrics: cpu50 });
    const d = hpa.reconcile(NOW, { specReplicas: 0, pods: [] });
    expect(d).toMatchObject({ desiredReplicas: 0, rescale: false });
    expect(d.reason).toMatch(/^ScalingDisabled/);
  });

  it('should bring an out-of-range target into [minReplicas, maxReplicas] at once', () => {
    // horizontal_test.go TestScaleUpRCImmediately
    const up = new HpaController({ minReplicas: 2, maxReplicas: 6, metrics: cpu50 });
    expect(up.reconcile(NOW, cluster(1, 0, NOW))).toMatchObject({
      desiredReplicas: 2,
      rescale: true,
    });
    // horizontal_test.go TestScaleDownRCImmediately
    const down = new HpaController({ minReplicas: 2, maxReplicas: 5, metrics: cpu50 });
    expect(down.reconcile(NOW, cluster(6, 0, NOW))).toMatchObject({
      desiredReplicas: 5,
      rescale: true,
    });
  });

  it('should scale on an external AverageValue metric from status.replicas', () => {
    // replica_calculator_test.go TestReplicaCalcScaleUpPerPodCMExternal through reconcile.
    const hpa = new HpaController({
      maxReplicas: 10,
      metrics: [
        { type: 'External', name: 'qps', target: { type: 'AverageValue', averageValue: 2150 } },
      ],
    });
    const d = hpa.reconcile(NOW, { ...cluster(3, 0, NOW), externalMetrics: { qps: [8600] } });
    expect(d).toMatchObject({
      desiredReplicas: 4,
      rescale: true,
      reason: 'external metric qps above target',
    });
  });

  it('should reject an invalid option with its name', () => {
    expect(() => new HpaController({ maxReplicas: 3, metrics: cpu50 }, { tolerance: -1 })).toThrow(
      /tolerance/,
    );
  });
});
