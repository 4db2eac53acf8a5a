/**
 * How the lab drives the ported control loops for one policy, every tick of trace time (seconds):
 * an HPA on its own (`hpaPolicy`), or KEDA's ScaledObject loop plus the HPA it creates
 * (`kedaPolicy`). Shared by the real lab (`run.ts`) and the simulator (`sim/`): only the reads
 * (`PolicyIo`) differ.
 */
import { HpaController, type HpaObservation, type HpaPod, type HpaSpec } from './hpa.js';
import { KedaScaledObjectLoop, type KedaScalerRead } from './keda.js';
import type { ScaledObjectManifest } from './manifests.js';
import type { PolicyIo } from './policy-io.js';

/** The HPA's sync period (`--horizontal-pod-autoscaler-sync-period`), trace seconds. */
export const SYNC_SECONDS = 15;

/** What a policy does at each tick of trace time (seconds): the replicas to set, if any. */
export interface Policy {
  initialReplicas: number;
  tick(now: number, io: PolicyIo): Promise<number | undefined>;
  close?(): void;
}

export type HpaReadings = Pick<HpaObservation, 'resourceMetrics' | 'externalMetrics'>;

/** The Deployment's pods as the HPA reads them. */
export function hpaPods(io: PolicyIo, cpuRequestMilli: number): HpaPod[] {
  return io.pods().map((pod) => ({
    name: pod.name,
    phase: pod.running ? 'Running' : 'Pending',
    ready:
      pod.readySince !== undefined
        ? { status: 'True' as const, lastTransitionTime: pod.readySince }
        : { status: 'False' as const, lastTransitionTime: pod.createdAt },
    ...(pod.running && { startTime: pod.createdAt }),
    requestsMilli: { cpu: cpuRequestMilli },
  }));
}

/** An HPA on its own (min ≥ 1): CPU utilization or an External metric. */
export function hpaPolicy(
  spec: HpaSpec,
  cpuRequestMilli: number,
  read: (io: PolicyIo, now: number) => Promise<HpaReadings>,
): Policy {
  const hpa = new HpaController(spec);
  let nextSync = 0;
  return {
    initialReplicas: spec.minReplicas ?? 1,
    async tick(now, io) {
      if (now < nextSync) return undefined;
      nextSync = now + SYNC_SECONDS;
      let readings: HpaReadings;
      try {
        readings = await read(io, now);
      } catch {
        // No metric (FailedGetExternalMetric): the HPA leaves the replicas as they are.
        return undefined;
      }
      const decision = hpa.reconcile(now * 1000, {
        specReplicas: io.replicas(),
        pods: hpaPods(io, cpuRequestMilli),
        ...readings,
      });
      return decision.desiredReplicas;
    },
  };
}

/**
 * Per-pod CPU (milli-CPU) over the last minute of trace time, as metrics-server reports it.
 * `speed`: trace seconds per second of the clock the pods' CPU is measured on.
 */
export function cpuReader(speed: number): (io: PolicyIo, now: number) => Promise<HpaReadings> {
  const history = new Map<string, { at: number; cpu: number }[]>();
  return async (io, now) => {
    const cpu: Record<string, { value: number; timestamp: number; windowMs: number }> = {};
    for (const pod of io.pods()) {
      if (!pod.running) continue;
      const points = history.get(pod.name) ?? [];
      points.push({ at: now, cpu: pod.cpuSeconds() });
      while (points.length > 2 && points[1]!.at <= now - 60) points.shift();
      history.set(pod.name, points);
      const first = points[0]!;
      const span = (now - first.at) / speed;
      if (span <= 0) continue;
      cpu[pod.name] = {
        value: ((points[points.length - 1]!.cpu - first.cpu) / span) * 1000,
        timestamp: now * 1000,
        windowMs: 60_000,
      };
    }
    return { resourceMetrics: { cpu } };
  };
}

/** KEDA's ScaledObject loop plus the HPA it creates, on one trigger. */
export function kedaPolicy(
  so: ScaledObjectManifest,
  cpuRequestMilli: number,
  read: (io: PolicyIo) => Promise<KedaScalerRead>,
  push?: (io: PolicyIo, onTrue: () => void) => () => void,
): Policy {
  // The ScaledObject exists before the trace, and its last poll of the idle queue was half a
  // polling interval before the first file (the mean wait for the next poll).
  const loop = new KedaScaledObjectLoop(so.options, -3600);
  const interval = so.options.pollingInterval ?? 30;
  loop.poll(-interval / 2, { replicas: so.minReplicaCount }, () => ({
    ok: true,
    metricValue: 0,
    active: false,
  }));
  const target = Number(so.metadata.targetValue ?? 1) * 1000;
  const hpa = new HpaController({
    minReplicas: Math.max(1, so.minReplicaCount),
    maxReplicas: so.maxReplicaCount,
    metrics: [
      {
        type: 'External',
        name: 's0-qscale',
        target:
          so.options.triggers[0]?.metricType === 'Value'
            ? { type: 'Value', value: target }
            : { type: 'AverageValue', averageValue: target },
      },
    ],
    ...(so.behavior && { behavior: so.behavior }),
  });
  let nextSync = 0;
  let pushed = false;
  let stopPush: (() => void) | undefined;
  return {
    initialReplicas: so.minReplicaCount,
    async tick(now, io) {
      if (push && !stopPush) stopPush = push(io, () => (pushed = true));
      const target = { replicas: io.replicas() };
      let replicas: number | undefined;
      if (pushed) {
        pushed = false;
        const outcome = loop.push(now, 'qscale', true, target);
        if (!outcome.ignored && outcome.action.kind === 'set') replicas = outcome.action.replicas;
      }
      if (loop.isPollDue(now)) {
        const reading = await read(io);
        const outcome = loop.poll(now, { replicas: replicas ?? target.replicas }, () => reading);
        if (outcome.action.kind === 'set') replicas = outcome.action.replicas;
      }
      const current = replicas ?? target.replicas;
      if (current >= 1 && now >= nextSync) {
        nextSync = now + SYNC_SECONDS;
        const reading = await read(io);
        const metric = loop.hpaMetric(now, 'qscale', { replicas: current }, () => reading);
        if (metric.ok) {
          const decision = hpa.reconcile(now * 1000, {
            specReplicas: current,
            pods: hpaPods(io, cpuRequestMilli),
            externalMetrics: { 's0-qscale': [metric.value * 1000] },
          });
          replicas = decision.desiredReplicas;
        }
      }
      return replicas;
    },
    close: () => stopPush?.(),
  };
}
