import { PatchStrategy, type CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '../config/logger.js';
import { POD_DELETION_COST_ANNOTATION, podDeletionCost } from '../scaling/deletion-cost.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';
import { apiErrorMessage, apiStatus } from './api-error.js';
import { requestOptions } from './request-options.js';

export interface PodDeletionCostKeeperOptions {
  /** Where the workers' heartbeats come from (only `read` is used). */
  signals: Pick<ScalingSignals, 'read'>;
  /** A client of the cluster the worker pods run in. */
  core: CoreV1Api;
  /**
   * The worker pods' namespace: POD_NAMESPACE, or read from the service account or the
   * kubeconfig, so it is checked here.
   */
  namespace: string;
  logger: Logger;
  /**
   * Time between rounds, and the least time between two patches of one pod, in seconds (> 0;
   * POD_DELETION_COST_INTERVAL_SECONDS). @defaultValue 10
   */
  intervalSeconds?: number;
  /**
   * How long a worker whose pod does not exist (404: a worker outside Kubernetes, in another
   * namespace, or a pod already gone) is left alone before it is tried again, in seconds (≥ 0).
   * @defaultValue 300
   */
  notFoundRetrySeconds?: number;
  /** Timeout of one API request, in ms (> 0). @defaultValue 5000 */
  requestTimeoutMs?: number;
  /** Patches in flight at once (a whole number ≥ 1). @defaultValue 4 */
  maxConcurrentPatches?: number;
  /** Sent as the patch's `fieldManager` (shown in the pod's managedFields). @defaultValue 'qscale' */
  fieldManager?: string;
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number;
}

/** What one round did. */
export interface DeletionCostRound {
  /** Pods patched. */
  patched: number;
  /** Patches that failed; they are retried on a later round. */
  failed: number;
  /** Live workers left alone: cost unchanged, patched less than an interval ago, or not a pod. */
  skipped: number;
}

interface PodState {
  /** The cost this keeper last wrote successfully. */
  applied?: number;
  /** When it last sent a patch, successful or not. */
  lastAttemptAt?: number;
  /** After a 404: not tried again before this time. */
  skipUntil?: number;
  /** The last failure, so that the same failure again is logged at debug level only. */
  lastFailure?: string;
}

/** Kubernetes object names (DNS-1123 subdomains): anything else cannot be a pod name. */
const POD_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Namespace names (DNS-1123 labels). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Timers may fire a few ms before a full interval has passed by `Date.now()`. */
const TIMER_SLACK_MS = 25;

/**
 * Keeps each worker pod's `controller.kubernetes.io/pod-deletion-cost` annotation at
 * {@link podDeletionCost} of its last heartbeat, so that a scale-down removes idle workers first.
 * A worker's id is its pod name (WORKER_ID from the downward API's `metadata.name`).
 *
 * Every `intervalSeconds` it reads a sample and, for each live worker whose cost differs from the
 * value it last wrote, sends a JSON merge patch (`application/merge-patch+json`) that sets only that
 * annotation; at most one patch per pod per interval, so a cost that changes meanwhile is written
 * on the first round after the interval. A 404 means the worker is not a pod here: it is skipped for
 * `notFoundRetrySeconds`. 403 (RBAC), 409 and other failures are logged (warn the first time, debug
 * when the same failure repeats) and retried on a later round; nothing escapes the loop.
 *
 * Several keepers at once (exporter replicas) are harmless: each writes the cost from the same
 * heartbeats, and the merge patch is idempotent, so they send the same value or, for a moment around
 * a heartbeat, a value one of them will correct on its next round.
 */
export class PodDeletionCostKeeper {
  private readonly opts: Required<Omit<PodDeletionCostKeeperOptions, 'logger'>>;
  private readonly logger: Logger;
  private readonly pods = new Map<string, PodState>();
  private readonly notPodNames = new Set<string>();
  /** A merge patch with a timeout. */
  private readonly patchOptions: ReturnType<typeof requestOptions>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<DeletionCostRound>;
  private closed = false;

  constructor(options: PodDeletionCostKeeperOptions) {
    const opts = {
      intervalSeconds: 10,
      notFoundRetrySeconds: 300,
      requestTimeoutMs: 5000,
      maxConcurrentPatches: 4,
      fieldManager: 'qscale',
      now: Date.now,
      ...options,
    };
    if (!NAMESPACE.test(opts.namespace)) {
      throw new RangeError(
        `namespace must be a Kubernetes namespace name, got "${opts.namespace}"`,
      );
    }
    const { logger, ...rest } = opts;
    this.opts = rest;
    this.logger = logger.child({ component: 'pod-deletion-cost' });
    this.patchOptions = requestOptions({
      timeoutMs: rest.requestTimeoutMs,
      contentType: PatchStrategy.MergePatch,
    });
  }

  /** Runs a round now and then every `intervalSeconds` until {@link close}. Idempotent. */
  start(): void {
    if (this.timer || this.closed) return;
    const round = () => {
      this.tick().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'pod deletion cost round failed'),
      );
    };
    this.timer = setInterval(round, this.opts.intervalSeconds * 1000);
    this.timer.unref();
    this.logger.info(
      { namespace: this.opts.namespace, intervalSeconds: this.opts.intervalSeconds },
      'keeping the pod-deletion-cost of worker pods up to date',
    );
    round();
  }

  /**
   * One round: reads a sample and patches the pods whose cost changed. Rounds never overlap: a call
   * while one is running gets that round's result. Rejects only when the sample cannot be read.
   */
  tick(): Promise<DeletionCostRound> {
    if (this.closed) return Promise.resolve({ patched: 0, failed: 0, skipped: 0 });
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async round(): Promise<DeletionCostRound> {
    const sample = await this.opts.signals.read();
    const now = this.opts.now();
    // A worker is one pod, whatever number of queues it shows up in.
    const busyById = new Map<string, number>();
    for (const queue of sample.queues) {
      for (const worker of queue.workers) {
        busyById.set(worker.id, (busyById.get(worker.id) ?? 0) + worker.busy);
      }
    }
    // Forget workers whose heartbeat expired, so the state stays as small as the live set.
    for (const id of this.pods.keys()) if (!busyById.has(id)) this.pods.delete(id);
    for (const id of this.notPodNames) if (!busyById.has(id)) this.notPodNames.delete(id);

    const due: { name: string; cost: number; state: PodState }[] = [];
    let skipped = 0;
    for (const [id, busy] of busyById) {
      if (!POD_NAME.test(id)) {
        if (!this.notPodNames.has(id)) {
          this.notPodNames.add(id);
          this.logger.debug({ worker: id }, 'worker id is not a pod name: left alone');
        }
        skipped++;
        continue;
      }
      const state = this.pods.get(id) ?? {};
      this.pods.set(id, state);
      const cost = podDeletionCost({ busy });
      const waiting =
        (state.skipUntil !== undefined && now < state.skipUntil) ||
        state.applied === cost ||
        (state.lastAttemptAt !== undefined &&
          now - state.lastAttemptAt < this.opts.intervalSeconds * 1000 - TIMER_SLACK_MS);
      if (waiting) skipped++;
      else due.push({ name: id, cost, state });
    }

    let patched = 0;
    let failed = 0;
    let next = 0;
    const lane = async () => {
      while (next < due.length && !this.closed) {
        const pod = due[next++]!;
        if (await this.patch(pod.name, pod.cost, pod.state, now)) patched++;
        else failed++;
      }
    };
    await Promise.all(Array.from({ length: this.opts.maxConcurrentPatches }, lane));
    const result = { patched, failed, skipped };
    if (patched + failed > 0) this.logger.debug(result, 'pod deletion cost round');
    return result;
  }

  /** Sends one patch; true when the pod now carries `cost`. Never throws. */
  private async patch(name: string, cost: number, state: PodState, now: number): Promise<boolean> {
    state.lastAttemptAt = now;
    const namespace = this.opts.namespace;
    try {
      await this.opts.core.patchNamespacedPod(
        {
          name,
          namespace,
          body: { metadata: { annotations: { [POD_DELETION_COST_ANNOTATION]: String(cost) } } },
          fieldManager: this.opts.fieldManager,
        },
        this.patchOptions,
      );
      if (state.lastFailure !== undefined) {
        this.logger.info({ pod: name, namespace }, 'pod deletion cost patched again');
      }
      state.applied = cost;
      state.lastFailure = undefined;
      state.skipUntil = undefined;
      this.logger.debug({ pod: name, namespace, cost }, 'pod deletion cost set');
      return true;
    } catch (error) {
      const status = apiStatus(error);
      const message = apiErrorMessage(error);
      state.applied = undefined;
      if (status === 404) {
        state.skipUntil = now + this.opts.notFoundRetrySeconds * 1000;
        this.logger.info(
          { pod: name, namespace, retryInSeconds: this.opts.notFoundRetrySeconds },
          'worker is not a pod in this namespace (404): left alone for a while',
        );
        return false;
      }
      const hint =
        status === 403
          ? `; grant "patch" on pods in namespace ${namespace} to this pod's service account`
          : '';
      const failure = `${status ?? 'error'} ${message}`;
      const level = failure === state.lastFailure ? 'debug' : 'warn';
      state.lastFailure = failure;
      this.logger[level](
        // An API answer says it all in `message`; a network error's stack may help.
        { pod: name, namespace, status, ...(status === undefined && { err: error }) },
        `cannot set the pod deletion cost: ${message}${hint}; retrying on a later round`,
      );
      return false;
    }
  }

  /** Stops the rounds and waits for the one in flight. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
