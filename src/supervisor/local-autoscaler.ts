import type { ChildProcess } from 'node:child_process';
import type { Registry, RegistryContentType } from 'prom-client';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import { WORKER_ID_PATTERN } from '../config/worker-id.js';
import type { QueueSnapshot } from '../queue/queue-snapshot.js';
import {
  recommendWorkers,
  stabilize,
  type Recommendation,
  type ScaleDecision,
} from '../scaling/autoscale-policy.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';
import { registerAutoscalerMetrics } from './autoscaler-metrics.js';
import { closeAll } from './close-all.js';
import { workerKillAfterMs, type Closable } from './lifecycle.js';
import { defaultIdPrefix, spawnWorkerProcess } from './worker-process.js';

/** A crashed worker is restarted after 1 s, doubling on each crash up to this. */
const MAX_RESTART_DELAY_MS = 30_000;
const FIRST_RESTART_DELAY_MS = 1000;
/** A worker that ran this long resets the restart delay to 1 s when it crashes. */
const HEALTHY_RUN_MS = 60_000;
/** Longest worker id prefix: `-<n>` follows it, and the whole must still be a worker id. */
const MAX_ID_PREFIX_LENGTH = 110;

export interface LocalAutoscalerOptions {
  /**
   * The settings, as loadConfig checked them: `autoscale` is used as it is (whole numbers with
   * 0 ≤ minWorkers ≤ maxWorkers, maxWorkers ≥ 1, intervalSeconds ≥ 1, stabilizationSeconds ≥ 0).
   */
  config: Config;
  logger: Logger;
  /**
   * Starts one worker process with this WORKER_ID.
   * @defaultValue {@link spawnWorkerProcess} (`qscale worker` from the running entry script)
   */
  spawnWorker?: (workerId: string) => ChildProcess;
  /**
   * Workers are named `<workerIdPrefix>-<n>` (WORKER_ID, matched against the heartbeats to find
   * idle ones). Give each autoscaler of one host and queue its own: 1-110 of the characters a
   * worker id allows.
   * @defaultValue `<hostname>-auto`
   */
  workerIdPrefix?: string;
  /** Clean-up steps `close()` runs after the workers have stopped (e.g. the signals' connection). */
  closeAlso?: (() => Promise<unknown>)[];
}

/** One worker process the autoscaler started. */
export interface AutoscaledWorker {
  id: string;
  pid?: number;
  /** Epoch ms. */
  startedAt: number;
  /** Asked to stop (SIGTERM) and finishing its jobs in flight. */
  stopping: boolean;
}

/** One change of the worker count. */
export interface AutoscaleDecision {
  /** Epoch ms. */
  at: number;
  from: number;
  to: number;
  reason: string;
  /** Scale-down: the workers stopped, with their busy slots in the sample the decision used. */
  stopped?: { id: string; busy: number }[];
}

export interface AutoscalerState {
  /** Every worker process alive, those still finishing their jobs after a scale-down included. */
  workers: AutoscaledWorker[];
  desired: number;
  lastDecision?: AutoscaleDecision;
  /** Rounds that started (up) or stopped (down) workers. */
  decisions: { up: number; down: number };
  /** Crashed workers replaced. */
  restarts: number;
}

interface Child extends AutoscaledWorker {
  process: ChildProcess;
  exited: Promise<void>;
  killTimer?: NodeJS.Timeout;
}

/**
 * Runs `qscale worker` child processes on this host and sizes them with the same decision KEDA
 * would make from the same signals: every AUTOSCALE_INTERVAL_SECONDS it reads a sample, computes
 * the desired count ({@link recommendWorkers}), applies HPA's scale-down stabilization over
 * AUTOSCALE_STABILIZATION_SECONDS ({@link stabilize}), then starts workers at once or stops idle
 * ones. It never stops a busy worker: when every worker is busy the scale-down waits for a later
 * round. Stopped workers get SIGTERM and finish their jobs in flight. A worker that exits without
 * being asked is restarted with exponential backoff.
 */
export class LocalAutoscaler implements Closable {
  private readonly config: Config;
  private signals?: ScalingSignals;
  private readonly logger: Logger;
  private readonly spawnWorker: (workerId: string) => ChildProcess;
  private readonly idPrefix: string;
  private readonly closeAlso: (() => Promise<unknown>)[];
  private readonly children = new Map<string, Child>();
  private history: Recommendation[] = [];
  private desiredCount = 0;
  private lastDecision?: AutoscaleDecision;
  private readonly decisionCounts = { up: 0, down: 0 };
  private restartCount = 0;
  private nextNumber = 1;
  private restartDelayMs = FIRST_RESTART_DELAY_MS;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private tickTimer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private started = false;
  private closed = false;
  private closing?: Promise<void>;

  constructor(options: LocalAutoscalerOptions) {
    const { config } = options;
    this.config = config;
    this.logger = options.logger;
    this.spawnWorker = options.spawnWorker ?? ((id) => spawnWorkerProcess(config, id));
    this.idPrefix = options.workerIdPrefix ?? defaultIdPrefix();
    this.closeAlso = options.closeAlso ?? [];
    // Made from the host name, or given by the caller: not a checked setting.
    if (this.idPrefix.length > MAX_ID_PREFIX_LENGTH || !WORKER_ID_PATTERN.test(this.idPrefix)) {
      throw new RangeError(
        `workerIdPrefix must be 1-${MAX_ID_PREFIX_LENGTH} characters of letters, digits, "_", ".", ":" or "-", got ${JSON.stringify(this.idPrefix)}`,
      );
    }
  }

  /**
   * Starts MIN_WORKERS workers at once, then decides every AUTOSCALE_INTERVAL_SECONDS from the
   * samples of `signals`: the sidecar's (`qscale start`) or ones of its own.
   */
  start(signals: ScalingSignals): this {
    if (this.started || this.closed) return this;
    this.started = true;
    this.signals = signals;
    const { minWorkers, maxWorkers, mode, target, intervalSeconds, stabilizationSeconds } =
      this.config.autoscale;
    this.logger.info(
      {
        queue: this.config.queue.name,
        minWorkers,
        maxWorkers,
        mode,
        target,
        intervalSeconds,
        stabilizationSeconds,
      },
      'autoscaler starting',
    );
    this.desiredCount = minWorkers;
    for (let i = 0; i < minWorkers; i++) this.startWorker();
    this.schedule();
    return this;
  }

  /** What runs and why, for `qscale status`-like views and tests. */
  state(): AutoscalerState {
    return {
      workers: [...this.children.values()].map(({ id, pid, startedAt, stopping }) => ({
        id,
        ...(pid !== undefined && { pid }),
        startedAt,
        stopping,
      })),
      desired: this.desiredCount,
      ...(this.lastDecision && { lastDecision: { ...this.lastDecision } }),
      decisions: { ...this.decisionCounts },
      restarts: this.restartCount,
    };
  }

  /** Adds the autoscaler's gauges and counters, read at scrape time, to a registry. */
  registerMetrics(registry: Registry<RegistryContentType>): void {
    registerAutoscalerMetrics(registry, this.config.queue.name, () => ({
      workers: this.children.size,
      desired: this.desiredCount,
      decisions: this.decisionCounts,
      restarts: this.restartCount,
    }));
  }

  /**
   * Stops deciding, sends SIGTERM to every worker and waits for them to finish their jobs in
   * flight; a worker still running SHUTDOWN_TIMEOUT_SECONDS + 5 s later is SIGKILLed. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.tickTimer);
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    // A round in progress spawns nothing once closed; wait for it so nothing runs after close().
    await this.ticking;
    const children = [...this.children.values()];
    this.logger.info({ workers: children.length }, 'autoscaler stopping its workers');
    for (const child of children) this.stopWorker(child);
    await Promise.all(children.map((child) => child.exited));
    await closeAll(this.logger, this.closeAlso);
    this.logger.info('autoscaler stopped');
  }

  private schedule(): void {
    if (this.closed) return;
    this.tickTimer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((error: unknown) => this.logger.error({ err: error }, 'autoscale round failed'))
        .finally(() => {
          this.ticking = undefined;
          this.schedule();
        });
    }, this.config.autoscale.intervalSeconds * 1000);
  }

  /** Workers alive and not stopping. */
  private running(): Child[] {
    return [...this.children.values()].filter((child) => !child.stopping);
  }

  /** One round: read a sample, decide, start or stop workers. */
  private async tick(): Promise<void> {
    const signals = this.signals;
    if (this.closed || !signals) return;
    const { autoscale, queue, scaler } = this.config;
    const sample = await signals.read({ maxAgeMs: autoscale.intervalSeconds * 1000 });
    const signal = signals.signal(sample, queue.name);
    if (!signal) throw new Error(`queue ${JSON.stringify(queue.name)} is not in the samples read`);
    if (this.closed) return;
    const current = this.running().length + this.restartTimers.size;
    const raw = recommendWorkers({
      mode: autoscale.mode,
      ...(autoscale.target !== undefined && { target: autoscale.target }),
      minWorkers: autoscale.minWorkers,
      maxWorkers: autoscale.maxWorkers,
      current,
      snapshot: signal.snapshot,
      rates: signal.rates,
      sizing: scaler.sizing,
    });
    const decision = stabilize(
      this.history,
      signal.snapshot.sampledAt,
      autoscale.stabilizationSeconds * 1000,
      raw,
      current,
    );
    this.history = decision.history;
    this.desiredCount = decision.desired;
    this.logger.debug(
      { current, desired: decision.desired, reason: decision.reason },
      'autoscale round',
    );
    if (decision.desired > current) this.scaleUp(current, decision);
    else if (decision.desired < current) this.scaleDown(current, decision, signal.snapshot);
  }

  private scaleUp(current: number, decision: ScaleDecision): void {
    for (let i = current; i < decision.desired; i++) this.startWorker();
    this.decisionCounts.up++;
    this.record({ at: Date.now(), from: current, to: decision.desired, reason: decision.reason });
  }

  /**
   * Drops pending restarts first (nothing runs there yet), then stops idle workers only — busy 0
   * in the sample the decision used — newest first.
   */
  private scaleDown(current: number, decision: ScaleDecision, snapshot: QueueSnapshot): void {
    let excess = current - decision.desired;
    const dropped = Math.min(excess, this.restartTimers.size);
    for (const timer of [...this.restartTimers].slice(0, dropped)) {
      clearTimeout(timer);
      this.restartTimers.delete(timer);
    }
    excess -= dropped;
    const busy = new Map(snapshot.workers.map((worker) => [worker.id, worker.busy]));
    const idle = this.running()
      .filter((child) => busy.get(child.id) === 0)
      .sort((a, b) => b.startedAt - a.startedAt)
      .slice(0, excess);
    if (dropped === 0 && idle.length === 0) {
      this.logger.debug(
        { from: current, to: decision.desired, reason: decision.reason },
        'autoscale: every worker is busy, the scale-down waits for the next round',
      );
      return;
    }
    for (const child of idle) this.stopWorker(child);
    const to = current - dropped - idle.length;
    const actions = [
      ...(dropped > 0 ? [`not restarting ${dropped} exited`] : []),
      ...(idle.length > 0 ? [`stopping idle ${idle.map((c) => c.id).join(', ')}`] : []),
      ...(to > decision.desired ? [`${to - decision.desired} more once idle`] : []),
    ];
    this.decisionCounts.down++;
    this.record({
      at: Date.now(),
      from: current,
      to,
      reason: [decision.reason, ...actions].join('; '),
      ...(idle.length > 0 && {
        stopped: idle.map((child) => ({ id: child.id, busy: busy.get(child.id)! })),
      }),
    });
  }

  private record(decision: AutoscaleDecision): void {
    this.lastDecision = decision;
    const { from, to, reason, stopped } = decision;
    this.logger.info({ from, to, reason, ...(stopped && { stopped }) }, 'autoscale');
  }

  private startWorker(): void {
    if (this.closed) return;
    const id = `${this.idPrefix}-${this.nextNumber++}`;
    const startedAt = Date.now();
    let proc: ChildProcess;
    try {
      proc = this.spawnWorker(id);
    } catch (error) {
      this.logger.error({ err: error, workerId: id }, 'could not start a worker');
      this.scheduleRestart(startedAt);
      return;
    }
    let settle!: () => void;
    const exited = new Promise<void>((resolve) => (settle = resolve));
    const child: Child = {
      id,
      ...(proc.pid !== undefined && { pid: proc.pid }),
      startedAt,
      stopping: false,
      process: proc,
      exited,
    };
    this.children.set(id, child);
    let gone = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (gone) return;
      gone = true;
      clearTimeout(child.killTimer);
      this.children.delete(id);
      settle();
      if (child.stopping) {
        this.logger.info({ workerId: id, pid: child.pid, code, signal }, 'worker exited');
        return;
      }
      this.logger.warn(
        { workerId: id, pid: child.pid, code, signal, ...(error && { err: error }) },
        'worker exited without being asked: restarting it',
      );
      this.scheduleRestart(startedAt);
    };
    proc.once('exit', (code, signal) => onGone(code, signal));
    // Spawning failed (no such file, too many processes): no 'exit' follows.
    proc.once('error', (error) => {
      if (proc.pid === undefined) onGone(null, null, error);
      else this.logger.warn({ err: error, workerId: id }, 'worker process error');
    });
    this.logger.info({ workerId: id, workerPid: proc.pid }, 'worker started');
  }

  /** SIGTERM now; SIGKILL when it is still there SHUTDOWN_TIMEOUT_SECONDS + 7 s later. */
  private stopWorker(child: Child): void {
    if (child.stopping) return;
    child.stopping = true;
    child.process.kill('SIGTERM');
    child.killTimer = setTimeout(() => {
      this.logger.warn(
        { workerId: child.id, pid: child.pid },
        'worker did not stop in time: killing it',
      );
      child.process.kill('SIGKILL');
    }, workerKillAfterMs(this.config));
  }

  /** Starts a replacement after the current backoff (1 s doubling to 30 s; reset by a 60 s run). */
  private scheduleRestart(startedAt: number): void {
    if (this.closed) return;
    if (Date.now() - startedAt >= HEALTHY_RUN_MS) this.restartDelayMs = FIRST_RESTART_DELAY_MS;
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(MAX_RESTART_DELAY_MS, delay * 2);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.closed) return;
      // A scale-down meanwhile may have made the replacement unnecessary.
      if (this.running().length >= this.desiredCount) return;
      this.restartCount++;
      this.logger.info({ delayMs: delay }, 'restarting a worker that exited');
      this.startWorker();
    }, delay);
    this.restartTimers.add(timer);
  }
}
