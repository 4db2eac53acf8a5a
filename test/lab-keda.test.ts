import { describe, expect, it } from 'vitest';
import {
  KEDA_SCALED_OBJECT_DEFAULTS,
  KedaConfigError,
  KedaScaledObjectLoop,
  kedaHpaReplicaBounds,
  type KedaScaledObjectOptions,
  type KedaScalerRead,
  type KedaScalerReader,
} from '../lab/scaling/keda.js';

// Upstream paths below are in kedacore/keda (main after v2.20.1) unless a keda.sh URL is given.

const active = (metricValue = 10): KedaScalerRead => ({ ok: true, metricValue, active: true });
const idle = (metricValue = 0): KedaScalerRead => ({ ok: true, metricValue, active: false });
const failing = (failedCall: 'GetMetrics' | 'IsActive' = 'GetMetrics'): KedaScalerRead => ({
  ok: false,
  failedCall,
  message: 'some error',
});

/** A reader answering every call with `answer` (or `answer[trigger]`), counting its calls. */
function reader(answer: KedaScalerRead | Record<string, KedaScalerRead>) {
  let calls = 0;
  const read: KedaScalerReader = (trigger) => {
    calls += 1;
    const a = 'ok' in answer ? answer : answer[trigger];
    if (a === undefined || typeof a.ok !== 'boolean') throw new Error(`no answer for ${trigger}`);
    return a as KedaScalerRead;
  };
  return Object.defineProperty(read, 'count', { get: () => calls }) as KedaScalerReader & {
    readonly count: number;
  };
}

const loop = (options: Partial<KedaScaledObjectOptions> = {}, createdAt = 0) =>
  new KedaScaledObjectLoop({ triggers: [{ name: 'q', targetValue: 10 }], ...options }, createdAt);

describe('KedaScaledObjectLoop', () => {
  describe('config', () => {
    // Docs: https://keda.sh/docs/latest/reference/scaledobject-spec (pollingInterval 30,
    // cooldownPeriod 300, initialCooldownPeriod 0, minReplicaCount 0, maxReplicaCount 100);
    // apis/keda/v1alpha1/scaledobject_types.go GetHPAMinReplicas.
    it('should apply the upstream defaults and give the HPA a minimum of 1', () => {
      const l = loop();
      expect(l.config).toMatchObject(KEDA_SCALED_OBJECT_DEFAULTS);
      expect(l.config.triggers[0]).toMatchObject({
        type: 'external',
        metricType: 'AverageValue',
        useCachedMetrics: false,
      });
      expect(kedaHpaReplicaBounds(l.config)).toEqual({ min: 1, max: 100 });
      expect(l.nextPollAt).toBe(0);
    });

    // apis/keda/v1alpha1/scaledobject_types.go CheckReplicaCountBoundsAreValid, CheckFallbackValid.
    it('should reject idle >= min, min > max and a negative fallback', () => {
      expect(() => loop({ minReplicaCount: 2, idleReplicaCount: 2 })).toThrow(KedaConfigError);
      expect(() => loop({ minReplicaCount: 5, maxReplicaCount: 4 })).toThrow(/minReplicaCount=5/);
      expect(() => loop({ fallback: { failureThreshold: -1, replicas: 3 } })).toThrow(
        /fallback.failureThreshold/,
      );
    });
  });

  describe('activation 0 ↔ 1', () => {
    // pkg/scaling/executor/scale_scaledobjects_test.go TestScaleFromMinReplicasWhenActive
    it('should scale from zero to 1 on the first active poll and record lastActiveTime', () => {
      const l = loop();
      const out = l.poll(0, { replicas: 0 }, reader(active()));
      expect(out.isActive).toBe(true);
      expect(out.activeTriggers).toEqual(['q']);
      expect(out.action).toEqual({ kind: 'set', replicas: 1, reason: 'activate' });
      expect(out.lastActiveTime).toBe(0);
      expect(out.nextPollAt).toBe(30);
    });

    // pkg/scaling/executor/scale_scaledobjects_test.go TestScaleFromIdleToMinReplicasWhenActive
    it('should scale from idle straight to minReplicaCount when active', () => {
      const l = loop({ idleReplicaCount: 0, minReplicaCount: 5 });
      const out = l.poll(0, { replicas: 0 }, reader(active()));
      expect(out.action).toEqual({ kind: 'set', replicas: 5, reason: 'activate' });
    });

    it('should leave an active target with replicas to the HPA and refresh lastActiveTime', () => {
      const l = loop();
      const out = l.poll(60, { replicas: 4 }, reader(active()));
      expect(out.action).toEqual({ kind: 'leave', reason: 'active' });
      expect(out.lastActiveTime).toBe(60);
    });

    // pkg/scaling/executor/scale_scaledobjects_test.go TestScaleToMinReplicasWhenNotActive
    // (no lastActiveTime, initialCooldownPeriod 0: scaled in at once).
    it('should scale a never-active target to zero once initialCooldownPeriod has passed', () => {
      const l = loop({}, 0);
      expect(l.poll(0, { replicas: 10 }, reader(idle())).action).toEqual({
        kind: 'leave',
        reason: 'coolingDown', // created at 0: 0 + 0 is not before 0
      });
      expect(l.poll(30, { replicas: 10 }, reader(idle())).action).toEqual({
        kind: 'set',
        replicas: 0,
        reason: 'deactivate',
      });
    });

    // Docs: https://keda.sh/docs/latest/reference/scaledobject-spec#cooldownperiod ("the period to
    // wait after the last trigger reported active before scaling the resource back to 0");
    // pkg/scaling/executor/scale_scaledobjects.go scaleToZeroOrIdle (strictly after).
    it('should measure the cooldown from the last active time, not from the first idle poll', () => {
      const l = loop();
      l.poll(0, { replicas: 0 }, reader(active()));
      expect(l.poll(30, { replicas: 3 }, reader(active())).lastActiveTime).toBe(30);
      for (let t = 60; t <= 330; t += 30) {
        const out = l.poll(t, { replicas: 3 }, reader(idle()));
        expect(out.action, `t=${t}`).toEqual({ kind: 'leave', reason: 'coolingDown' });
      }
      // 30 + 300 = 330 is not before 330; at 360 it is.
      expect(l.poll(360, { replicas: 3 }, reader(idle())).action).toEqual({
        kind: 'set',
        replicas: 0,
        reason: 'deactivate',
      });
      expect(l.poll(390, { replicas: 0 }, reader(idle())).action).toEqual({
        kind: 'leave',
        reason: 'noChange',
      });
    });

    // pkg/scaling/executor/scale_scaledobjects_test.go TestScaleToIdleReplicasWhenNotActive
    it('should scale to idleReplicaCount, not minReplicaCount, when inactive', () => {
      const l = loop({ idleReplicaCount: 0, minReplicaCount: 5 });
      expect(l.poll(30, { replicas: 10 }, reader(idle())).action).toEqual({
        kind: 'set',
        replicas: 0,
        reason: 'deactivate',
      });
    });

    // Docs: https://keda.sh/docs/latest/reference/scaledobject-spec#minreplicacount;
    // pkg/scaling/executor/scale_scaledobjects_test.go TestScaleToMinReplicasFromLowerInitialReplicaCount
    it('should never go to zero with minReplicaCount > 0, and raise a lower count to it', () => {
      const l = loop({ minReplicaCount: 2 });
      for (let t = 0; t <= 900; t += 30) {
        const out = l.poll(t, { replicas: 2 }, reader(idle()));
        expect(out.action).toEqual({ kind: 'leave', reason: 'noChange' });
      }
      expect(l.poll(930, { replicas: 1 }, reader(idle())).action).toEqual({
        kind: 'set',
        replicas: 2,
        reason: 'raiseToMinReplicas',
      });
    });
  });

  describe('external-push', () => {
    const pushLoop = () =>
      loop({ triggers: [{ name: 'q', targetValue: 10, type: 'external-push' }] });

    // pkg/scaling/scale_handler.go startPushScalers (RequestScale(active=true) on each `true`);
    // pkg/scalers/external_scaler_test.go TestExternalPushScaler_Run (every `true` is delivered);
    // docs: https://keda.sh/docs/latest/scalers/external-push/
    it('should activate on a pushed true before the next poll, without moving the poll', () => {
      const l = pushLoop();
      expect(l.poll(0, { replicas: 0 }, reader(idle())).action.kind).toBe('leave');
      const out = l.push(7, 'q', true, { replicas: 0 });
      expect(out).toEqual({
        ignored: false,
        action: { kind: 'set', replicas: 1, reason: 'activate' },
        lastActiveTime: 7,
      });
      expect(l.nextPollAt).toBe(30);
      expect(l.isPollDue(29)).toBe(false);
    });

    // pkg/scaling/scale_handler.go startPushScalers ("inactivation events are ignored").
    it('should ignore a pushed false: scale-in waits for the polls and the cooldown', () => {
      const l = pushLoop();
      l.poll(0, { replicas: 0 }, reader(active()));
      expect(l.push(400, 'q', false, { replicas: 1 })).toEqual({ ignored: true });
      expect(l.lastActiveTime).toBe(0);
    });

    it('should refresh lastActiveTime on a pushed true while replicas > 0', () => {
      const l = pushLoop();
      l.poll(0, { replicas: 0 }, reader(active()));
      expect(l.push(250, 'q', true, { replicas: 3 })).toMatchObject({
        action: { kind: 'leave', reason: 'active' },
        lastActiveTime: 250,
      });
      // 250 + 300 is not before 540: still cooling down on the poll at 540.
      expect(l.poll(540, { replicas: 3 }, reader(idle())).action.kind).toBe('leave');
    });

    it('should refuse a push on a trigger that is not external-push', () => {
      expect(() => loop().push(0, 'q', true, { replicas: 0 })).toThrow(/not of type external-push/);
    });
  });

  describe('trigger errors', () => {
    // pkg/scaling/scale_handler_test.go TestCheckScaledObjectScalersWithError (the failing scaler
    // is rebuilt by its factory and fails again); pkg/scalers/external_scaler.go
    // GetMetricsAndActivity: an IsActive error fails the whole read.
    it('should count a failed IsActive as an error, not as inactive, and not scale in', () => {
      const l = loop();
      l.poll(0, { replicas: 0 }, reader(active()));
      const r = reader(failing('IsActive'));
      const out = l.poll(600, { replicas: 3 }, r);
      expect(r.count).toBe(2); // one refresh-and-retry (scalers_cache.go)
      expect(out).toMatchObject({ isActive: false, isError: true, activeTriggers: [] });
      expect(out.triggers.q!.error).toMatch(/IsActive failed/);
      expect(out.action).toEqual({ kind: 'leave', reason: 'triggerError' });
    });

    // pkg/scaling/cache/scalers_cache.go GetMetricsAndActivityForScaler (retry on a fresh scaler).
    it('should use the retry when the first call fails and the second succeeds', () => {
      const l = loop();
      const answers = [failing(), active()];
      const out = l.poll(0, { replicas: 0 }, () => answers.shift()!);
      expect(out).toMatchObject({ isActive: true, isError: false });
    });

    // pkg/scaling/scale_handler_test.go TestCheckScaledObjectFindFirstActiveNotIgnoreOthers;
    // pkg/scaling/executor/scale_scaledobjects.go RequestScale ("PartialTriggerError").
    it('should stay active with one trigger failing, without refreshing lastActiveTime', () => {
      const l = loop({
        triggers: [
          { name: 'a', targetValue: 1 },
          { name: 'b', targetValue: 1 },
        ],
      });
      l.poll(0, { replicas: 0 }, reader({ a: active(), b: active() }));
      const out = l.poll(30, { replicas: 2 }, reader({ a: active(), b: failing() }));
      expect(out).toMatchObject({ isActive: true, isError: true, activeTriggers: ['a'] });
      expect(out.action).toEqual({ kind: 'leave', reason: 'partialTriggerError' });
      expect(out.lastActiveTime).toBe(0);
      // ...but a zero-replica target is still activated.
      expect(l.poll(60, { replicas: 0 }, reader({ a: active(), b: failing() })).action).toEqual({
        kind: 'set',
        replicas: 1,
        reason: 'activate',
      });
    });
  });

  describe('fallback', () => {
    const fallbackLoop = (options: Partial<KedaScaledObjectOptions> = {}) =>
      loop({ fallback: { failureThreshold: 3, replicas: 10 }, ...options });

    // pkg/fallback/fallback_test.go "should bump the number of failures when metrics call fails"
    // and "should return a normalised metric when number of failures are beyond threshold"
    // (threshold 3, replicas 10, AverageValue target 10 → 100 on the 4th failure).
    it('should serve replicas × target after failureThreshold failed reads', () => {
      const l = fallbackLoop();
      for (let i = 1; i <= 3; i++) {
        const m = l.hpaMetric(i * 15, 'q', { replicas: 5 }, reader(failing()));
        expect(m.ok, `read ${i}`).toBe(false);
        expect(l.healthOf('q')).toEqual({ numberOfFailures: i, status: 'Failing' });
      }
      expect(l.fallbackCondition).toBe(false);
      const m = l.hpaMetric(60, 'q', { replicas: 5 }, reader(failing()));
      expect(m).toMatchObject({ ok: true, value: 100, fallback: true, source: 'scaler' });
      expect(l.healthOf('q')).toEqual({ numberOfFailures: 4, status: 'Failing' });
      expect(l.fallbackCondition).toBe(true);
    });

    // pkg/fallback/fallback_test.go "should reset the health status when scaler metrics are
    // available when fallback is enabled".
    it('should reset the failure count on a successful read', () => {
      const l = fallbackLoop();
      for (let i = 1; i <= 5; i++) l.hpaMetric(i, 'q', { replicas: 1 }, reader(failing()));
      expect(l.fallbackCondition).toBe(true);
      const m = l.hpaMetric(10, 'q', { replicas: 1 }, reader(active(6)));
      expect(m).toMatchObject({ ok: true, value: 6, fallback: false });
      expect(l.healthOf('q')).toEqual({ numberOfFailures: 0, status: 'Happy' });
      expect(l.fallbackCondition).toBe(false);
      expect(l.hpaMetric(20, 'q', { replicas: 1 }, reader(failing())).ok).toBe(false);
    });

    // pkg/fallback/fallback_test.go "should propagate the error when fallback is disabled" and
    // "should not reset the health status when fallback is not enabled".
    it('should propagate errors and keep no health without a fallback', () => {
      const l = loop();
      for (let i = 1; i <= 10; i++) {
        expect(l.hpaMetric(i, 'q', { replicas: 1 }, reader(failing())).ok).toBe(false);
      }
      expect(l.healthOf('q')).toBeUndefined();
    });

    // pkg/fallback/fallback_test.go "should use fallback replicas when current replicas is lower
    // when behavior is 'currentReplicasIfHigher'" and "should use current replicas when behavior
    // is 'currentReplicas'".
    it('should honour the fallback behaviors', () => {
      const value = (behavior: 'currentReplicas' | 'currentReplicasIfHigher', replicas: number) => {
        const l = loop({ fallback: { failureThreshold: 0, replicas: 10, behavior } });
        const m = l.hpaMetric(0, 'q', { replicas }, reader(failing()));
        return m.ok ? m.value : undefined;
      };
      expect(value('currentReplicasIfHigher', 5)).toBe(100);
      expect(value('currentReplicasIfHigher', 12)).toBe(120);
      expect(value('currentReplicas', 5)).toBe(50);
    });

    // pkg/scaling/executor/scale_scaledobjects.go RequestScale (isError with fallback.replicas != 0
    // never scales in) and pkg/scaling/scale_handler.go getScalerState ("When fallback is active,
    // the scaler should be considered active").
    it('should hold replicas while failing below the threshold, then count the fallback as active', () => {
      const l = fallbackLoop({ cooldownPeriod: 0 });
      for (const t of [30, 60, 90]) {
        const out = l.poll(t, { replicas: 3 }, reader(failing()));
        expect(out.action).toEqual({ kind: 'leave', reason: 'awaitingFallback' });
      }
      const out = l.poll(120, { replicas: 0 }, reader(failing()));
      expect(out).toMatchObject({ isActive: true, isError: false, fallbackActive: true });
      expect(out.triggers.q!.metricValue).toBe(100);
      expect(out.action).toEqual({ kind: 'set', replicas: 1, reason: 'activate' });
    });
  });

  describe('useCachedMetrics', () => {
    const cachedLoop = (options: Partial<KedaScaledObjectOptions> = {}) =>
      loop({ triggers: [{ name: 'q', targetValue: 10, useCachedMetrics: true }], ...options });

    // pkg/scaling/scale_handler_test.go TestGetScaledObjectMetrics_FromCache (no scaler call after
    // a poll) and TestGetScaledObjectMetrics_DirectCall (no cache: the scaler is called).
    it('should serve the last poll’s value to the HPA until the next poll', () => {
      const l = cachedLoop();
      const beforePoll = reader(active(7));
      expect(l.hpaMetric(0, 'q', { replicas: 1 }, beforePoll)).toMatchObject({
        ok: true,
        value: 7,
        source: 'scaler',
      });
      expect(beforePoll.count).toBe(1);

      l.poll(0, { replicas: 1 }, reader(active(40)));
      const untouched = reader(active(999));
      for (const t of [15, 29]) {
        expect(l.hpaMetric(t, 'q', { replicas: 1 }, untouched)).toMatchObject({
          ok: true,
          value: 40,
          source: 'cache',
          cacheAge: t,
        });
      }
      expect(untouched.count).toBe(0);

      l.poll(30, { replicas: 1 }, reader(active(55)));
      expect(l.hpaMetric(45, 'q', { replicas: 1 }, untouched)).toMatchObject({
        value: 55,
        cacheAge: 15,
      });

      const direct = loop();
      direct.poll(0, { replicas: 1 }, reader(active(40)));
      const called = reader(active(41));
      expect(direct.hpaMetric(15, 'q', { replicas: 1 }, called)).toMatchObject({ value: 41 });
      expect(called.count).toBe(1);
    });

    // pkg/scaling/scale_handler.go GetScaledObjectMetrics: a cached record goes through
    // fallback.GetMetricsWithFallback again, so a cached error is one more failure.
    it('should count a cached error as another failure on each HPA read', () => {
      const l = cachedLoop({ fallback: { failureThreshold: 2, replicas: 4 } });
      l.poll(0, { replicas: 1 }, reader(failing()));
      expect(l.healthOf('q')!.numberOfFailures).toBe(1);
      expect(l.hpaMetric(15, 'q', { replicas: 1 }, reader(active())).ok).toBe(false);
      expect(l.hpaMetric(16, 'q', { replicas: 1 }, reader(active()))).toMatchObject({
        ok: true,
        value: 40,
        fallback: true,
        source: 'cache',
      });
    });
  });

  describe('useCachedMetrics with a fallback served on the poll', () => {
    // pkg/scaling/scale_handler.go getScalerState stores the post-fallback value with no error;
    // GetScaledObjectMetrics then runs it through GetMetricsWithFallback as a success
    // (pkg/fallback/fallback.go), which resets the health. Upstream behaviour, kept as is.
    it('should serve the cached fallback value as a plain value and reset the health', () => {
      const l = loop({
        triggers: [{ name: 'q', targetValue: 10, useCachedMetrics: true }],
        fallback: { failureThreshold: 0, replicas: 4 },
      });
      expect(l.poll(0, { replicas: 1 }, reader(failing())).fallbackActive).toBe(true);
      expect(l.hpaMetric(15, 'q', { replicas: 1 }, reader(failing()))).toMatchObject({
        ok: true,
        value: 40,
        fallback: false,
        source: 'cache',
      });
      expect(l.healthOf('q')).toEqual({ numberOfFailures: 0, status: 'Happy' });
    });
  });

  describe('inputs', () => {
    // pkg/scalers/scaler.go GenerateMetricInMili: NaN, Inf and negatives become 0.
    it('should clamp negative and non-finite metric values to 0', () => {
      const l = loop();
      expect(l.hpaMetric(0, 'q', { replicas: 1 }, reader(active(-5)))).toMatchObject({ value: 0 });
      expect(l.hpaMetric(0, 'q', { replicas: 1 }, reader(active(NaN)))).toMatchObject({ value: 0 });
    });

    it('should refuse time going backwards', () => {
      const l = loop();
      l.poll(30, { replicas: 0 }, reader(idle()));
      expect(() => l.poll(10, { replicas: 0 }, reader(idle()))).toThrow(RangeError);
    });
  });
});
