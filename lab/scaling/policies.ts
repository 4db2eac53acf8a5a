/**
 * The anchor policies of the scaling lab, defined once for the real lab (`run.ts`) and the
 * simulator (`sim/`): which manifest, which trigger metadata, how each one reads its metric. Every
 * number comes from the shipped overlays (`manifests.ts`).
 */
import type { ShippedManifests } from './manifests.js';
import type { PolicyIo } from './policy-io.js';
import type { HpaSpec } from './hpa.js';
import { cpuReader, hpaPolicy, kedaPolicy, type Policy } from './policy-loops.js';

/**
 * The `hpa-external-10` anchor: an External HPA on the backlog (`redis_queue_length`, served by
 * prometheus-adapter from `qscale_queue_length`), AverageValue 10, 1-20 replicas, scale-up ×2 or
 * +4 pods per 15 s, scale-down 1 pod a minute after 5 minutes — the hpa-external overlay as it was
 * shipped before the wait objective, and what such an HPA typically looks like.
 */
export const BACKLOG_HPA: HpaSpec & { metricName: string } = {
  minReplicas: 1,
  maxReplicas: 20,
  metricName: 'redis_queue_length',
  metrics: [
    {
      type: 'External',
      name: 'redis_queue_length',
      target: { type: 'AverageValue', averageValue: 10_000 },
    },
  ],
  behavior: {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      policies: [
        { type: 'Percent', value: 100, periodSeconds: 15 },
        { type: 'Pods', value: 4, periodSeconds: 15 },
      ],
      selectPolicy: 'Max',
    },
    scaleDown: {
      stabilizationWindowSeconds: 300,
      policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }],
    },
  },
};

export const POLICY_NAMES = [
  'fixed-max',
  'hpa-cpu-80',
  'hpa-external-10',
  'qscale-hpa-external',
  'keda-redis-5',
  'qscale-backlog-10',
  'qscale-latency-30',
  'qscale-workers',
  'qscale-workers-push',
] as const;

export type PolicyName = (typeof POLICY_NAMES)[number];

export interface PolicyClock {
  /**
   * Trace seconds per second of the clock the sidecar and the pods run on: the real lab's speed
   * (50), 1 for a simulated cluster. Every duration the sidecar reads is divided by it.
   */
  speed: number;
  /** The queue the workers take jobs from. */
  queue: string;
}

/**
 * A trigger's metadata as the sidecar must read it: the queue, and every duration (each key
 * ending in `Seconds`) on the sidecar's clock.
 */
export function sidecarMetadata(
  metadata: Readonly<Record<string, string>>,
  { speed, queue }: PolicyClock,
): Record<string, string> {
  const out: Record<string, string> = { ...metadata, queue };
  for (const [key, value] of Object.entries(metadata)) {
    if (key.endsWith('Seconds') && value.trim() !== '') out[key] = String(Number(value) / speed);
  }
  return out;
}

/** Every anchor policy, each a factory (a policy keeps state across ticks). */
export function definePolicies(
  manifests: ShippedManifests,
  clock: PolicyClock,
): Record<PolicyName, () => Policy> {
  const keda = manifests.keda;
  const cpu = manifests.workerCpuRequestMilli;
  const qscale = (metadata: Record<string, string>) => {
    const meta = sidecarMetadata(metadata, clock);
    return (io: PolicyIo) => io.scaler(meta);
  };
  return {
    'fixed-max': () => ({
      initialReplicas: keda.maxReplicaCount,
      tick: async () => undefined,
    }),
    'hpa-cpu-80': () => hpaPolicy(manifests.hpaCpu, cpu, cpuReader(clock.speed)),
    // An HPA of one's own on the backlog through prometheus-adapter: one worker per 10 waiting
    // jobs (the hpa-external overlay before the wait objective, and a common setup).
    'hpa-external-10': () =>
      hpaPolicy({ ...BACKLOG_HPA, maxReplicas: keda.maxReplicaCount }, cpu, async (io) => ({
        externalMetrics: { [BACKLOG_HPA.metricName]: [(await io.queueLength()) * 1000] },
      })),
    // The shipped hpa-external overlay: the exporter's desired workers through prometheus-adapter.
    'qscale-hpa-external': () =>
      hpaPolicy(manifests.hpaExternal, cpu, async (io) => ({
        externalMetrics: {
          [manifests.hpaExternal.metricName]: [(await io.desiredWorkers()) * 1000],
        },
      })),
    // KEDA's redis scaler: LLEN of the wait list, listLength 5 (its default), activation 0.
    'keda-redis-5': () =>
      kedaPolicy(
        { ...keda, metadata: { targetValue: '5' }, options: { ...keda.options } },
        cpu,
        async (io) => {
          const length = await io.waitListLength();
          return { ok: true, metricValue: length, active: length > 0 };
        },
      ),
    // The former `keda` overlay default.
    'qscale-backlog-10': () => {
      const metadata = { ...keda.metadata, mode: 'backlog', targetValue: '10' };
      return kedaPolicy({ ...keda, metadata }, cpu, qscale(metadata));
    },
    // The README's latency example: metricType Value, the oldest waiting job under 30 s (the
    // sidecar measures on its clock: the target is compressed like every other duration).
    'qscale-latency-30': () => {
      const target = 30 / clock.speed;
      const metadata = { ...keda.metadata, mode: 'latency', targetValue: String(target) };
      const [trigger] = keda.options.triggers;
      return kedaPolicy(
        {
          ...keda,
          metadata,
          options: {
            ...keda.options,
            triggers: [{ ...trigger!, metricType: 'Value', targetValue: target }],
          },
        },
        cpu,
        qscale(metadata),
      );
    },
    'qscale-workers': () => kedaPolicy(keda, cpu, qscale(keda.metadata)),
    'qscale-workers-push': () => {
      const push = sidecarMetadata(manifests.kedaPush.metadata, clock);
      return kedaPolicy(
        manifests.kedaPush,
        cpu,
        qscale(manifests.kedaPush.metadata),
        (io, onTrue) => io.streamIsActive(push, onTrue),
      );
    },
  };
}
