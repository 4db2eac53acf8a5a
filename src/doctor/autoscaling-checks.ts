import { matchesPattern } from '../kinds/queue-kind.js';
import { parseQueueEntry } from '../kinds/queue-addresses.js';
import { workerTotals, type QueueSnapshot } from '../queue/queue-snapshot.js';
import { meanConcurrency } from '../scaling/scaling-decision.js';
import type { QueueRates } from '../scaling/queue-rates.js';
import type { DoctorCheck } from './doctor-check.js';

/** What Kubernetes says about the workers' ScaledObject, when it could be read. */
export interface ScaledObjectInfo {
  name: string;
  /** KEDA's Active condition. */
  active: boolean;
  triggers: { type: string; metadata: Record<string, string> }[];
}

/** A backlog drain per replica longer than this is a warning, in seconds. */
const SLOW_DRAIN_SECONDS = 600;

/**
 * Autoscaling sanity: work waiting with no worker and nothing that will start one; and whether a
 * backlog-mode `targetValue` fits the observed processing time (T jobs per replica take
 * T × mean processing time / concurrency to drain).
 */
export function autoscalingChecks(
  snapshot: QueueSnapshot,
  rates: QueueRates,
  kubernetes: { available: boolean; scaledObject?: ScaledObjectInfo },
): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const so = kubernetes.scaledObject;
  const workersUnknown = snapshot.derived !== undefined && !snapshot.derived.workersKnown;
  if (snapshot.backlog > 0 && !workersUnknown && workerTotals(snapshot).live === 0) {
    if (!kubernetes.available) {
      checks.push({
        area: 'autoscaling',
        name: 'scale from zero',
        status: 'WARN',
        found: `${snapshot.backlog} jobs wait, no worker is live, and there is no Kubernetes to ask about an autoscaler`,
        fix: 'start workers by hand (qscale worker), or run qscale start --autoscale on this machine',
      });
    } else if (!so || !so.active) {
      checks.push({
        area: 'autoscaling',
        name: 'scale from zero',
        status: 'FAIL',
        found: `${snapshot.backlog} jobs wait with zero workers and ${so ? `ScaledObject ${so.name} is not active` : 'no ScaledObject'}: nothing will start a worker`,
        fix: so
          ? `kubectl describe scaledobject ${so.name}: check its trigger reaches the exporter (scalerAddress) and its conditions`
          : 'apply k8s/overlays/keda (or scale the worker Deployment by hand: kubectl scale deploy/qscale-worker --replicas=1)',
      });
    } else {
      checks.push({
        area: 'autoscaling',
        name: 'scale from zero',
        status: 'OK',
        found: `ScaledObject ${so.name} is active: KEDA is starting workers for the ${snapshot.backlog} waiting jobs`,
      });
    }
  }

  const trigger = so?.triggers.find(
    (t) =>
      (t.type === 'external' || t.type === 'external-push') &&
      t.metadata.queue !== undefined &&
      triggerNames(t.metadata.queue, snapshot.queue),
  );
  const mode = trigger?.metadata.mode ?? 'backlog';
  if (trigger && mode === 'backlog') {
    const target = Number(trigger.metadata.targetValue ?? 10);
    const concurrency = meanConcurrency(snapshot);
    const mean = rates.meanProcessingSeconds;
    if (mean === undefined) {
      checks.push({
        area: 'autoscaling',
        name: 'targetValue vs throughput',
        status: 'OK',
        found: `targetValue ${target}: no processing time measured yet to compare it with`,
      });
    } else {
      const drain = (target * mean) / concurrency;
      const throughput = rates.finishedPerSecond;
      checks.push({
        area: 'autoscaling',
        name: 'targetValue vs throughput',
        status: drain > SLOW_DRAIN_SECONDS ? 'WARN' : 'OK',
        found:
          `targetValue ${target} jobs per replica × ${mean.toFixed(2)} s per job / concurrency ${concurrency.toFixed(1)} = ` +
          `${drain.toFixed(0)} s of work per replica` +
          (throughput !== undefined ? `; observed throughput ${throughput.toFixed(2)} jobs/s` : ''),
        ...(drain > SLOW_DRAIN_SECONDS && {
          fix: `each replica gets more than ${SLOW_DRAIN_SECONDS / 60} minutes of work before KEDA adds another: lower targetValue to about ${Math.max(1, Math.floor((SLOW_DRAIN_SECONDS * concurrency) / mean))}, or use mode: workers`,
        }),
        details: {
          targetValue: target,
          meanProcessingSeconds: mean,
          concurrency,
          drainSeconds: drain,
        },
      });
    }
  }
  return checks;
}

/** Whether a trigger's `queue` (a name, an address, a pattern) names this queue. */
function triggerNames(entry: string, queue: string): boolean {
  const selector = parseQueueEntry(entry, '');
  if (typeof selector === 'string') return entry === queue;
  return 'pattern' in selector ? matchesPattern(queue, selector.pattern) : selector.name === queue;
}
