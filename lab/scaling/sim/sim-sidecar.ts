/**
 * The sidecar of a simulated run, answering with the sidecar's own decision code: one
 * `ScalingSignals` over the simulated queue (read once a second, as the lab's scrapes and the
 * sidecar's background reads do), `parseTriggerMetadata`, `scalingValue` and `isActive` exactly
 * as `ExternalScalerService` calls them, and `StreamIsActive` as its `QueueWatchers` serves it (a
 * fresh sample on every queue event, at most every 250 ms, a value written when it changes).
 * During an outage every call fails and the streams end; it restarts with an empty rate history.
 */
import { parseTriggerMetadata, type TriggerSpec } from '../../../src/keda/trigger-metadata.js';
import { desiredWorkers, isActive, scalingValue } from '../../../src/scaling/scaling-decision.js';
import { ScalingSignals } from '../../../src/scaling/scaling-signals.js';
import type { Sample } from '../../../src/queue/queue-snapshot.js';
import type { QueuePrior } from '../../../src/scaling/queue-rates.js';
import type { KedaScalerRead } from '../keda.js';
import { sidecarDefaults } from './sidecar-defaults.js';
import type { SimCluster } from './sim-cluster.js';
import type { SimPod } from './sim-pod.js';
import { SimSampleSource } from './sim-sample-source.js';

export interface SidecarSettings {
  queue: string;
  /** RATE_WINDOW_SECONDS, on the sidecar's clock. */
  rateWindowSeconds: number;
  /** TARGET_WAIT_SECONDS on the sidecar's clock, when set; else its default. */
  targetWaitSeconds?: number;
  /** SAMPLE_TTL_MS, on the sidecar's clock. */
  ttlMs: number;
  maxWorkers: number;
  /** From a queue event to KEDA holding the value, trace seconds. */
  pushSeconds: number;
  /** QueueWatchers' least time between two evaluations, trace seconds. */
  watchMinIntervalSeconds: number;
  /** Prometheus' scrape interval for prometheus-adapter, trace seconds; 0: read directly. */
  adapterScrapeSeconds: number;
  /** Down from `from` until `to` + the restart (trace seconds). */
  outage?: { from: number; to: number };
  /** The queue's stored history, as the sidecar reads it at start (on its clock). */
  history?: QueuePrior;
  restartSeconds: number;
}

/** How long Prometheus keeps serving a series it could not scrape (its staleness), seconds. */
const PROMETHEUS_STALENESS_SECONDS = 300;

interface Stream {
  spec: TriggerSpec;
  onTrue: () => void;
  open: boolean;
  closed: boolean;
  last: boolean | undefined;
  evaluationDue: boolean;
  lastEvaluation: number;
  backoff: number;
}

export class SimSidecar {
  private signals: ScalingSignals;
  private wasUp = true;
  private readonly streams: Stream[] = [];
  /** Busy slots of each listed worker at the last read: what the deletion-cost keeper knows. */
  private latestBusy = new Map<string, number>();
  private scraped: { at: number; backlog: number; desired: number } | undefined;
  private nextScrape = 0;

  constructor(
    private readonly cluster: SimCluster,
    private readonly settings: SidecarSettings,
  ) {
    this.signals = this.newSignals();
  }

  private newSignals(): ScalingSignals {
    const source = new SimSampleSource(this.cluster, {
      queue: this.settings.queue,
      ttlMs: this.settings.ttlMs,
      maxWorkers: this.settings.maxWorkers,
    });
    const signals = new ScalingSignals(source, this.settings.rateWindowSeconds);
    if (this.settings.history) signals.remember(this.settings.queue, this.settings.history);
    return signals;
  }

  /** Whether the sidecar answers at trace time `t`. */
  up(t: number): boolean {
    const outage = this.settings.outage;
    return !outage || t < outage.from || t >= outage.to + this.settings.restartSeconds;
  }

  /** Once a second: outage transitions, then the read a /metrics scrape makes. */
  async tick(t: number): Promise<void> {
    const up = this.up(t);
    if (!up && this.wasUp) this.goDown(t);
    if (up && !this.wasUp) this.signals = this.newSignals();
    this.wasUp = up;
    if (!up) return;
    const sample = await this.signals.read();
    const busy = new Map<string, number>();
    const snapshot = sample.queues[0]!;
    for (const worker of snapshot.workers) busy.set(worker.id, worker.busy);
    this.latestBusy = busy;
    const scrape = this.settings.adapterScrapeSeconds;
    if (scrape > 0 && t >= this.nextScrape) {
      this.scraped = { at: t, backlog: snapshot.backlog, desired: this.desiredOf(sample) };
      this.nextScrape = t + scrape;
    }
  }

  /** `qscale_queue_desired_workers` of a sample: the exporter sizes with its settings' objective. */
  private desiredOf(sample: Sample): number {
    const signal = this.signals.signal(sample, this.settings.queue)!;
    return desiredWorkers(
      signal.snapshot,
      signal.rates,
      sidecarDefaults(this.cluster.settings.speed, this.settings.targetWaitSeconds),
    );
  }

  /** The pod's `controller.kubernetes.io/pod-deletion-cost`: its busy slots as last listed. */
  deletionCost(pod: SimPod): number {
    return this.latestBusy.get(pod.name) ?? 0;
  }

  /** `qscale_queue_length` as prometheus-adapter serves it (rejects when it has no value). */
  async queueLength(): Promise<number> {
    return (await this.adapterRead()).backlog;
  }

  /** `qscale_queue_desired_workers` as prometheus-adapter serves it. */
  async desiredWorkers(): Promise<number> {
    return (await this.adapterRead()).desired;
  }

  /** What prometheus-adapter serves: the last scrape, or (no adapter) the sidecar read now. */
  private async adapterRead(): Promise<{ backlog: number; desired: number }> {
    const now = this.cluster.now;
    if (this.settings.adapterScrapeSeconds > 0) {
      const scraped = this.scraped;
      if (!scraped || now - scraped.at > PROMETHEUS_STALENESS_SECONDS) {
        throw new Error('no value for the external metric');
      }
      return scraped;
    }
    const sample = await this.read();
    return { backlog: sample.queues[0]!.backlog, desired: this.desiredOf(sample) };
  }

  /** KEDA's GetMetrics then IsActive on one trigger. */
  async scalerRead(metadata: Record<string, string>): Promise<KedaScalerRead> {
    if (!this.up(this.cluster.now)) {
      return { ok: false, failedCall: 'GetMetrics', message: 'connection refused' };
    }
    let spec: TriggerSpec;
    try {
      spec = this.spec(metadata);
    } catch (error) {
      return { ok: false, failedCall: 'GetMetrics', message: (error as Error).message };
    }
    const metrics = this.signals.signal(await this.signals.read(), spec.queue)!;
    const value = scalingValue(metrics.snapshot, metrics.rates, spec);
    const activity = this.signals.signal(await this.signals.read(), spec.queue)!;
    return {
      ok: true,
      metricValue: value,
      active: isActive(activity.snapshot, spec.activationValue),
    };
  }

  /** KEDA's StreamIsActive on one trigger; returns the function that closes it. */
  streamIsActive(metadata: Record<string, string>, onTrue: () => void): () => void {
    const stream: Stream = {
      spec: this.spec(metadata),
      onTrue,
      open: false,
      closed: false,
      last: undefined,
      evaluationDue: false,
      lastEvaluation: -Infinity,
      backoff: 2,
    };
    this.streams.push(stream);
    this.connect(stream);
    return () => {
      stream.closed = true;
    };
  }

  /** Something happened on the queue: each open stream evaluates it (coalesced). */
  onQueueEvent(): void {
    for (const stream of this.streams) if (stream.open) this.scheduleEvaluation(stream);
  }

  private spec(metadata: Record<string, string>): TriggerSpec {
    return parseTriggerMetadata(
      metadata,
      { queues: [this.settings.queue], prefix: 'bull' },
      sidecarDefaults(this.cluster.settings.speed, this.settings.targetWaitSeconds),
    );
  }

  private read(options?: { maxAgeMs?: number }): Promise<Sample> {
    if (!this.up(this.cluster.now)) return Promise.reject(new Error('connection refused'));
    return this.signals.read(options);
  }

  private connect(stream: Stream): void {
    if (stream.closed) return;
    const now = this.cluster.now;
    if (this.up(now)) {
      // A new watch: the first sample is written whatever it says.
      stream.open = true;
      stream.last = undefined;
      stream.backoff = 2;
      this.scheduleEvaluation(stream);
      return;
    }
    this.cluster.events.add(now + stream.backoff, () => this.connect(stream));
    stream.backoff = Math.min(60, stream.backoff * 2);
  }

  private goDown(t: number): void {
    for (const stream of this.streams) {
      if (!stream.open) continue;
      stream.open = false;
      stream.backoff = 2;
      this.cluster.events.add(t + stream.backoff, () => this.connect(stream));
      stream.backoff = 4;
    }
  }

  private scheduleEvaluation(stream: Stream): void {
    if (stream.evaluationDue) return;
    stream.evaluationDue = true;
    const { pushSeconds, watchMinIntervalSeconds } = this.settings;
    const at = Math.max(this.cluster.now, stream.lastEvaluation + watchMinIntervalSeconds);
    this.cluster.events.add(at + pushSeconds, () => this.evaluate(stream));
  }

  private async evaluate(stream: Stream): Promise<void> {
    stream.evaluationDue = false;
    if (!stream.open || stream.closed || !this.up(this.cluster.now)) return;
    stream.lastEvaluation = this.cluster.now;
    const signal = this.signals.signal(await this.signals.read({ maxAgeMs: 0 }), stream.spec.queue);
    if (!signal) return;
    const active = isActive(signal.snapshot, stream.spec.activationValue);
    if (active === stream.last) return;
    stream.last = active;
    if (active) stream.onTrue();
  }
}
