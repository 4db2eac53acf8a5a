/**
 * A deterministic port of what KEDA's operator does for a ScaledObject on top of the HPA, for a
 * scaling lab that drives it with simulated time (seconds, any origin).
 *
 * Ported from kedacore/keda (main after v2.20.1):
 * - polling loop and push wake-ups: `pkg/scaling/scale_handler.go` (`startScaleLoop`,
 *   `startPushScalers`, `checkScalers`, `getScaledObjectState`, `getScalerState`,
 *   `GetScaledObjectMetrics`);
 * - 0 ↔ 1 activation, cooldown, idle/min replicas: `pkg/scaling/executor/scale_scaledobjects.go`
 *   (`RequestScale`, `scaleFromZeroOrIdle`, `scaleToZeroOrIdle`, `getIdleOrMinimumReplicaCount`)
 *   and `pkg/scaling/executor/scale_executor.go` (default cooldowns);
 * - one refresh-and-retry of a failed scaler read: `pkg/scaling/cache/scalers_cache.go`
 *   (`GetMetricsAndActivityForScaler`);
 * - fallback: `pkg/fallback/fallback.go` (`GetMetricsWithFallback`, `doFallback`);
 * - one read = GetMetrics then IsActive, either failing fails the read:
 *   `pkg/scalers/external_scaler.go` (`GetMetricsAndActivity`);
 * - `useCachedMetrics` records: `pkg/scaling/cache/metricscache/metrics_record.go`;
 * - defaults and validation: `apis/keda/v1alpha1/scaledobject_types.go`, `withtriggers_types.go`.
 *
 * The HPA's own arithmetic (desired replicas from the metric) is not here; see `hpa.ts`.
 */
import {
  type KedaFallbackOptions,
  type KedaHealthStatus,
  type KedaHpaMetric,
  type KedaPollOutcome,
  type KedaPushOutcome,
  type KedaReplicaAction,
  type KedaScaleTarget,
  type KedaScaledObjectConfig,
  type KedaScaledObjectOptions,
  type KedaScalerReader,
  type KedaTriggerOptions,
  type KedaTriggerOutcome,
  resolveKedaConfig,
} from './keda-options.js';

export * from './keda-options.js';

interface MetricsRecord {
  active: boolean;
  value: number | undefined;
  error: string | undefined;
  at: number;
}

type Processed =
  { ok: true; value: number; fallback: boolean } | { ok: false; message: string; fallback: false };

/** NaN, ±Inf and negative values become 0, as KEDA's `GenerateMetricInMili` does. */
const sanitizeMetric = (value: number): number => (Number.isFinite(value) && value > 0 ? value : 0);

/**
 * KEDA's control loop for one ScaledObject, with explicit time. The caller (a simulation) calls
 * {@link KedaScaledObjectLoop.poll} when {@link KedaScaledObjectLoop.isPollDue}, forwards pushes to
 * {@link KedaScaledObjectLoop.push}, and lets its HPA read metrics through
 * {@link KedaScaledObjectLoop.hpaMetric}; it applies any `set` action to the target itself.
 */

export class KedaScaledObjectLoop {
  /** The resolved config. */
  readonly config: KedaScaledObjectConfig;
  private readonly createdAt: number;
  private lastActive: number | undefined;
  private nextPoll: number;
  private lastEventAt: number;
  private readonly health = new Map<string, KedaHealthStatus>();
  private records = new Map<string, MetricsRecord>();

  /**
   * @param options ScaledObject fields; upstream defaults fill the gaps.
   * @param createdAt creation time of the ScaledObject; the first poll is due then.
   * @throws KedaConfigError on an invalid config.
   */
  constructor(options: KedaScaledObjectOptions, createdAt = 0) {
    this.config = resolveKedaConfig(options);
    this.createdAt = createdAt;
    this.nextPoll = createdAt;
    this.lastEventAt = createdAt;
  }

  /** `status.lastActiveTime`, undefined until a check found a trigger active. */
  get lastActiveTime(): number | undefined {
    return this.lastActive;
  }

  /** When the polling loop runs next. */
  get nextPollAt(): number {
    return this.nextPoll;
  }

  /** True when the polling loop would run at `now`. */
  isPollDue(now: number): boolean {
    return now >= this.nextPoll;
  }

  /** `status.health` of one trigger's metric, undefined when never recorded. */
  healthOf(trigger: string): KedaHealthStatus | undefined {
    const h = this.health.get(trigger);
    return h && { ...h };
  }

  /** The ScaledObject's Fallback condition: some metric is failing beyond the threshold. */
  get fallbackCondition(): boolean {
    const fb = this.config.fallback;
    if (!fb) return false;
    return [...this.health.values()].some(
      (h) => h.status === 'Failing' && h.numberOfFailures > fb.failureThreshold,
    );
  }

  /**
   * One polling check: reads every trigger, applies fallback, decides 0 ↔ 1, stores the
   * `useCachedMetrics` records, and schedules the next poll at `now + pollingInterval`.
   */
  poll(now: number, target: KedaScaleTarget, read: KedaScalerReader): KedaPollOutcome {
    this.advanceClock(now);
    this.nextPoll = now + this.config.pollingInterval;
    const triggers: Record<string, KedaTriggerOutcome> = {};
    const activeTriggers: string[] = [];
    const records = new Map<string, MetricsRecord>();
    let isError = false;
    let fallbackActive = false;
    for (const trigger of this.config.triggers) {
      const raw = this.readWithRetry(trigger.name, read);
      const processed = this.withFallback(
        trigger,
        raw.ok ? { ok: true, value: sanitizeMetric(raw.metricValue) } : raw,
        target,
      );
      const active = processed.fallback || (raw.ok && raw.active);
      if (trigger.useCachedMetrics) {
        records.set(trigger.name, {
          active,
          value: processed.ok ? processed.value : undefined,
          error: processed.ok ? undefined : processed.message,
          at: now,
        });
      }
      fallbackActive ||= processed.fallback;
      if (!processed.ok) isError = true;
      const countedActive = processed.ok && active;
      if (countedActive) activeTriggers.push(trigger.name);
      triggers[trigger.name] = {
        active: countedActive,
        metricValue: processed.ok ? processed.value : undefined,
        fallback: processed.fallback,
        error: processed.ok ? undefined : processed.message,
      };
    }
    const action = this.requestScale(now, activeTriggers.length > 0, isError, target.replicas);
    if (records.size > 0) this.records = records;
    return {
      isActive: activeTriggers.length > 0,
      isError,
      activeTriggers,
      fallbackActive,
      triggers,
      action,
      lastActiveTime: this.lastActive,
      nextPollAt: this.nextPoll,
    };
  }

  /**
   * A value on an `external-push` trigger's StreamIsActive stream. `true` runs the executor at
   * once as active without errors; `false` is ignored (deactivation waits for the polls).
   * @throws Error when the trigger is unknown or not `external-push`.
   */
  push(now: number, trigger: string, active: boolean, target: KedaScaleTarget): KedaPushOutcome {
    const t = this.trigger(trigger);
    if (t.type !== 'external-push') {
      throw new Error(`trigger '${trigger}' is not of type external-push`);
    }
    this.advanceClock(now);
    if (!active) return { ignored: true };
    const action = this.requestScale(now, true, false, target.replicas);
    return { ignored: false, action, lastActiveTime: this.lastActive };
  }

  /**
   * The HPA reading one trigger's external metric. With `useCachedMetrics` and a record from a
   * poll, the record is served without calling the scaler; it still goes through fallback
   * processing, as upstream (so a cached error counts as another failure, and a cached fallback
   * value counts as a success that resets the failure count).
   */
  hpaMetric(
    now: number,
    trigger: string,
    target: KedaScaleTarget,
    read: KedaScalerReader,
  ): KedaHpaMetric {
    const t = this.trigger(trigger);
    this.advanceClock(now);
    const record = t.useCachedMetrics ? this.records.get(t.name) : undefined;
    let raw: { ok: true; value: number } | { ok: false; message: string };
    if (record) {
      raw =
        record.error === undefined
          ? { ok: true, value: record.value ?? 0 }
          : { ok: false, message: record.error };
    } else {
      const r = this.readWithRetry(t.name, read);
      raw = r.ok ? { ok: true, value: sanitizeMetric(r.metricValue) } : r;
    }
    const processed = this.withFallback(t, raw, target);
    const source = record ? 'cache' : 'scaler';
    const cacheAge = record ? now - record.at : undefined;
    if (!processed.ok) return { ok: false, message: processed.message, source, cacheAge };
    return { ok: true, value: processed.value, fallback: processed.fallback, source, cacheAge };
  }

  private trigger(name: string): Required<KedaTriggerOptions> {
    const t = this.config.triggers.find((x) => x.name === name);
    if (!t) throw new Error(`unknown trigger '${name}'`);
    return t;
  }

  private advanceClock(now: number): void {
    if (!Number.isFinite(now) || now < this.lastEventAt) {
      throw new RangeError(`time must not go backwards: ${now} < ${this.lastEventAt}`);
    }
    this.lastEventAt = now;
  }

  /** `ScalersCache.GetMetricsAndActivityForScaler`: on error, refresh the scaler and retry once. */
  private readWithRetry(
    trigger: string,
    read: KedaScalerReader,
  ): { ok: true; metricValue: number; active: boolean } | { ok: false; message: string } {
    let r = read(trigger);
    if (!r.ok) r = read(trigger);
    if (r.ok) return r;
    return { ok: false, message: `${r.failedCall} failed${r.message ? `: ${r.message}` : ''}` };
  }

  /** `fallback.GetMetricsWithFallback` for one metric. */
  private withFallback(
    trigger: Required<KedaTriggerOptions>,
    raw: { ok: true; value: number } | { ok: false; message: string },
    target: KedaScaleTarget,
  ): Processed {
    const fb = this.config.fallback;
    if (raw.ok) {
      if (fb) this.health.set(trigger.name, { numberOfFailures: 0, status: 'Happy' });
      return { ok: true, value: raw.value, fallback: false };
    }
    if (!fb) return { ok: false, message: raw.message, fallback: false };
    const failures = (this.health.get(trigger.name)?.numberOfFailures ?? 0) + 1;
    this.health.set(trigger.name, { numberOfFailures: failures, status: 'Failing' });
    if (failures <= fb.failureThreshold)
      return { ok: false, message: raw.message, fallback: false };
    const value = this.fallbackValue(fb, trigger, target);
    if (value === undefined) {
      return { ok: false, message: 'error performing fallback', fallback: false };
    }
    return { ok: true, value, fallback: true };
  }

  /** `fallback.doFallback`: the metric value that makes the HPA land on the fallback replicas. */
  private fallbackValue(
    fb: Required<KedaFallbackOptions>,
    trigger: Required<KedaTriggerOptions>,
    target: KedaScaleTarget,
  ): number | undefined {
    const current = target.replicas;
    let replicas: number;
    switch (fb.behavior) {
      case 'currentReplicas':
        replicas = current;
        break;
      case 'currentReplicasIfHigher':
        replicas = Math.max(current, fb.replicas);
        break;
      case 'currentReplicasIfLower':
        replicas = Math.min(current, fb.replicas);
        break;
      default:
        replicas = fb.replicas;
    }
    if (trigger.metricType === 'Value') {
      const ready = target.readyReplicas ?? target.replicas;
      if (ready === 0) return undefined;
      replicas /= ready;
    }
    // KEDA builds a milli-quantity from int64(target × 1000 × replicas): truncated to 0.001.
    return Math.trunc(trigger.targetValue * 1000 * replicas) / 1000;
  }

  /** The executor's `RequestScale` for a ScaledObject (no pause/force-activation annotations). */
  private requestScale(
    now: number,
    isActive: boolean,
    isError: boolean,
    currentReplicas: number,
  ): KedaReplicaAction {
    const { minReplicaCount: min, idleReplicaCount: idle, fallback } = this.config;
    if (isActive) {
      if ((idle !== undefined && currentReplicas < min) || currentReplicas === 0) {
        this.lastActive = now;
        return { kind: 'set', replicas: min > 0 ? min : 1, reason: 'activate' };
      }
      if (isError) return { kind: 'leave', reason: 'partialTriggerError' };
      this.lastActive = now;
      return { kind: 'leave', reason: 'active' };
    }
    if (isError && fallback && fallback.replicas !== 0) {
      return { kind: 'leave', reason: 'awaitingFallback' };
    }
    if (isError && !fallback) return { kind: 'leave', reason: 'triggerError' };
    if ((idle !== undefined && currentReplicas > idle) || (currentReplicas > 0 && min === 0)) {
      return this.scaleToZeroOrIdle(now);
    }
    if (idle === undefined && currentReplicas < min) {
      return { kind: 'set', replicas: min, reason: 'raiseToMinReplicas' };
    }
    return { kind: 'leave', reason: 'noChange' };
  }

  /** `scaleToZeroOrIdle`: only once the (initial) cooldown has strictly passed. */
  private scaleToZeroOrIdle(now: number): KedaReplicaAction {
    const { cooldownPeriod, initialCooldownPeriod, idleReplicaCount, minReplicaCount } =
      this.config;
    const cooledDown =
      this.lastActive === undefined
        ? this.createdAt + initialCooldownPeriod < now
        : this.lastActive + cooldownPeriod < now;
    if (!cooledDown) return { kind: 'leave', reason: 'coolingDown' };
    return { kind: 'set', replicas: idleReplicaCount ?? minReplicaCount, reason: 'deactivate' };
  }
}
