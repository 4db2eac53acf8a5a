/**
 * The options, configuration and result types of the KEDA control-loop port (`keda.ts`), with the
 * upstream defaults and validation (kedacore/keda `apis/keda/v1alpha1/scaledobject_types.go`,
 * `withtriggers_types.go`).
 */
/** What KEDA does when a trigger's metric keeps failing. @see KedaFallbackOptions.behavior */
export type KedaFallbackBehavior =
  'static' | 'currentReplicas' | 'currentReplicasIfHigher' | 'currentReplicasIfLower';

/** `spec.fallback` of a ScaledObject (the `scalingModifiers` behavior is not ported). */
export interface KedaFallbackOptions {
  /** Consecutive failed reads tolerated; the read after them is answered with the fallback. */
  failureThreshold: number;
  /** Replicas the HPA is steered to once the fallback is served. */
  replicas: number;
  /**
   * How the fallback replica count is chosen.
   * @defaultValue 'static'
   */
  behavior?: KedaFallbackBehavior;
}

/** One trigger of the ScaledObject: an external scaler, polled or also pushing. */
export interface KedaTriggerOptions {
  /** The trigger's metric name; also the key of health and cache records. */
  name: string;
  /**
   * `external` is only polled; `external-push` also sends StreamIsActive values.
   * @defaultValue 'external'
   */
  type?: 'external' | 'external-push';
  /**
   * The HPA metric target type.
   * @defaultValue 'AverageValue'
   */
  metricType?: 'AverageValue' | 'Value';
  /** The target the scaler reported in GetMetricSpec (`targetSize`). */
  targetValue: number;
  /**
   * When true the HPA's metric read is served from the last poll's record.
   * @defaultValue false
   */
  useCachedMetrics?: boolean;
}

/** The ScaledObject fields the control loop reads, all times in seconds. */
export interface KedaScaledObjectOptions {
  /**
   * Seconds between two checks of the triggers.
   * @defaultValue 30
   */
  pollingInterval?: number;
  /**
   * Seconds of inactivity after the last active time before scaling to zero (or idle/min).
   * @defaultValue 300
   */
  cooldownPeriod?: number;
  /**
   * Seconds after creation before the first scale-in when the object was never active.
   * @defaultValue 0
   */
  initialCooldownPeriod?: number;
  /**
   * Replicas when inactive (0 allows scale to zero).
   * @defaultValue 0
   */
  minReplicaCount?: number;
  /**
   * Upper bound handed to the HPA.
   * @defaultValue 100
   */
  maxReplicaCount?: number;
  /**
   * Replicas when inactive, instead of minReplicaCount; must be below minReplicaCount.
   * @defaultValue undefined (idle mode off)
   */
  idleReplicaCount?: number;
  /** Fallback on failing metric reads; no fallback when absent. */
  fallback?: KedaFallbackOptions;
  /** At least one trigger, names unique. */
  triggers: KedaTriggerOptions[];
}

/** Upstream defaults of the ScaledObject fields we port. */
export const KEDA_SCALED_OBJECT_DEFAULTS = {
  pollingInterval: 30,
  cooldownPeriod: 300,
  initialCooldownPeriod: 0,
  minReplicaCount: 0,
  maxReplicaCount: 100,
} as const;

/** A ScaledObject config with defaults applied and validated. */
export interface KedaScaledObjectConfig {
  /** See {@link KedaScaledObjectOptions.pollingInterval}. */
  pollingInterval: number;
  /** See {@link KedaScaledObjectOptions.cooldownPeriod}. */
  cooldownPeriod: number;
  /** See {@link KedaScaledObjectOptions.initialCooldownPeriod}. */
  initialCooldownPeriod: number;
  /** See {@link KedaScaledObjectOptions.minReplicaCount}. */
  minReplicaCount: number;
  /** See {@link KedaScaledObjectOptions.maxReplicaCount}. */
  maxReplicaCount: number;
  /** See {@link KedaScaledObjectOptions.idleReplicaCount}. */
  idleReplicaCount: number | undefined;
  /** See {@link KedaScaledObjectOptions.fallback}. */
  fallback: Required<KedaFallbackOptions> | undefined;
  /** See {@link KedaScaledObjectOptions.triggers}. */
  triggers: Required<KedaTriggerOptions>[];
}

/** Thrown for a ScaledObject config that KEDA's admission webhook would reject. */
export class KedaConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KedaConfigError';
  }
}

const nonNegativeInteger = (value: number): boolean => Number.isInteger(value) && value >= 0;

/**
 * Applies upstream defaults, then validates (bounds as in KEDA's `CheckReplicaCountBoundsAreValid`
 * and `CheckFallbackValid`).
 * @throws KedaConfigError naming the option and the allowed range.
 */
export function resolveKedaConfig(options: KedaScaledObjectOptions): KedaScaledObjectConfig {
  const config: KedaScaledObjectConfig = {
    pollingInterval: options.pollingInterval ?? KEDA_SCALED_OBJECT_DEFAULTS.pollingInterval,
    cooldownPeriod: options.cooldownPeriod ?? KEDA_SCALED_OBJECT_DEFAULTS.cooldownPeriod,
    initialCooldownPeriod:
      options.initialCooldownPeriod ?? KEDA_SCALED_OBJECT_DEFAULTS.initialCooldownPeriod,
    minReplicaCount: options.minReplicaCount ?? KEDA_SCALED_OBJECT_DEFAULTS.minReplicaCount,
    maxReplicaCount: options.maxReplicaCount ?? KEDA_SCALED_OBJECT_DEFAULTS.maxReplicaCount,
    idleReplicaCount: options.idleReplicaCount,
    fallback:
      options.fallback === undefined
        ? undefined
        : { ...options.fallback, behavior: options.fallback.behavior ?? 'static' },
    triggers: options.triggers.map((t) => ({
      ...t,
      type: t.type ?? 'external',
      metricType: t.metricType ?? 'AverageValue',
      useCachedMetrics: t.useCachedMetrics ?? false,
    })),
  };
  if (!(config.pollingInterval > 0)) {
    throw new KedaConfigError(`pollingInterval=${config.pollingInterval} must be > 0 seconds`);
  }
  for (const key of ['cooldownPeriod', 'initialCooldownPeriod'] as const) {
    if (!(config[key] >= 0)) throw new KedaConfigError(`${key}=${config[key]} must be >= 0`);
  }
  for (const key of ['minReplicaCount', 'maxReplicaCount'] as const) {
    if (!nonNegativeInteger(config[key])) {
      throw new KedaConfigError(`${key}=${config[key]} must be an integer >= 0`);
    }
  }
  const hpaMin = Math.max(config.minReplicaCount, 1);
  if (config.minReplicaCount > config.maxReplicaCount) {
    throw new KedaConfigError(
      `minReplicaCount=${config.minReplicaCount} must not exceed maxReplicaCount=${config.maxReplicaCount}`,
    );
  }
  if (config.idleReplicaCount !== undefined) {
    if (!nonNegativeInteger(config.idleReplicaCount) || config.idleReplicaCount >= hpaMin) {
      throw new KedaConfigError(
        `idleReplicaCount=${config.idleReplicaCount} must be an integer >= 0 and < minReplicaCount=${config.minReplicaCount}`,
      );
    }
  }
  const fb = config.fallback;
  if (fb && (!nonNegativeInteger(fb.failureThreshold) || !nonNegativeInteger(fb.replicas))) {
    throw new KedaConfigError(
      `fallback.failureThreshold=${fb.failureThreshold} and fallback.replicas=${fb.replicas} must be integers >= 0`,
    );
  }
  if (config.triggers.length === 0) throw new KedaConfigError('triggers must not be empty');
  const names = new Set<string>();
  for (const t of config.triggers) {
    if (names.has(t.name)) throw new KedaConfigError(`trigger name '${t.name}' is not unique`);
    names.add(t.name);
    if (!(t.targetValue > 0)) {
      throw new KedaConfigError(`trigger '${t.name}' targetValue=${t.targetValue} must be > 0`);
    }
  }
  return config;
}

/** The min/max replicas KEDA writes into the HPA it owns (`GetHPAMinReplicas`/`GetHPAMaxReplicas`). */
export function kedaHpaReplicaBounds(config: KedaScaledObjectConfig): { min: number; max: number } {
  return { min: Math.max(config.minReplicaCount, 1), max: config.maxReplicaCount };
}

/** One answer of the external scaler: GetMetrics then IsActive; a failure of either fails it. */
export type KedaScalerRead =
  | { ok: true; metricValue: number; active: boolean }
  | { ok: false; failedCall: 'GetMetrics' | 'IsActive'; message?: string };

/** Calls the scaler of one trigger; KEDA calls it again once (fresh connection) if it fails. */
export type KedaScalerReader = (trigger: string) => KedaScalerRead;

/** The scale target as KEDA reads it before deciding. */
export interface KedaScaleTarget {
  /** `spec.replicas` of the target (what KEDA compares against 0/min/idle). */
  replicas: number;
  /**
   * Ready pods, used only by the fallback of a `Value` metric.
   * @defaultValue replicas
   */
  readyReplicas?: number;
}

/** Why KEDA's executor changed, or left alone, the replica count. */
export type KedaLeaveReason =
  /** Active with ≥ 1 replica: lastActiveTime refreshed, the HPA sizes it. */
  | 'active'
  /** Inactive but not yet `cooldownPeriod` (or `initialCooldownPeriod`) past. */
  | 'coolingDown'
  /** Some trigger active, another failed: lastActiveTime is not refreshed. */
  | 'partialTriggerError'
  /** No trigger active, one failed, no fallback: nothing is scaled in. */
  | 'triggerError'
  /** No trigger active, one failed below the threshold, fallback.replicas > 0: wait for it. */
  | 'awaitingFallback'
  /** Nothing to do (already at zero/idle, or at/above minReplicaCount). */
  | 'noChange';

/** What KEDA's executor does to the replica count: set it, or leave it to the HPA. */
export type KedaReplicaAction =
  | { kind: 'set'; replicas: number; reason: 'activate' | 'deactivate' | 'raiseToMinReplicas' }
  | { kind: 'leave'; reason: KedaLeaveReason };

/** The state of one trigger after a poll. */
export interface KedaTriggerOutcome {
  /** Counted active (IsActive true, or served the fallback). */
  active: boolean;
  /** The metric value after fallback processing; undefined when the read failed. */
  metricValue: number | undefined;
  /** The fallback value was served for this trigger. */
  fallback: boolean;
  /** The read failed (and no fallback was served). */
  error: string | undefined;
}

/** The result of one polling check (`checkScalers`). */
export interface KedaPollOutcome {
  /** Any trigger active. */
  isActive: boolean;
  /** Any trigger failed (without fallback). */
  isError: boolean;
  /** Names of the active triggers. */
  activeTriggers: string[];
  /** Any trigger served the fallback on this poll. */
  fallbackActive: boolean;
  /** Per trigger name. */
  triggers: Record<string, KedaTriggerOutcome>;
  /** What the executor did. */
  action: KedaReplicaAction;
  /** `status.lastActiveTime` after this check. */
  lastActiveTime: number | undefined;
  /** When the polling loop checks again (a push does not move it). */
  nextPollAt: number;
}

/** The result of a StreamIsActive value. */
export type KedaPushOutcome =
  | { ignored: true }
  | { ignored: false; action: KedaReplicaAction; lastActiveTime: number | undefined };

/** What the HPA gets when it reads the trigger's external metric from KEDA's metrics server. */
export type KedaHpaMetric =
  | {
      ok: true;
      /** Metric value handed to the HPA (the fallback value when `fallback`). */
      value: number;
      /** Served the fallback value computed on this read. */
      fallback: boolean;
      /** `cache` when served from the last poll's record without calling the scaler. */
      source: 'scaler' | 'cache';
      /** Seconds since the poll that wrote the record (source `cache` only). */
      cacheAge: number | undefined;
    }
  | { ok: false; message: string; source: 'scaler' | 'cache'; cacheAge: number | undefined };

/** `status.health[metric]` as KEDA keeps it (only when a fallback is configured). */
export interface KedaHealthStatus {
  /** Consecutive failed reads (polls and HPA reads together). */
  numberOfFailures: number;
  /** `Happy` after a good read, `Failing` after a failed one. */
  status: 'Happy' | 'Failing';
}
