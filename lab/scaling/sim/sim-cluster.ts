/**
 * The simulated cluster in virtual time: a Deployment's pods (Pending → container start → Ready,
 * graceful scale-in through the ReplicaSet's victim order, SIGKILL after the grace period), the
 * queue's jobs (FIFO) and what the workers tell the sidecar (heartbeats and flushed job ends).
 * Time moves from one event to the next (`runUntil`); nothing here knows about policies.
 */
import { podsToDelete, type RankedPod } from '../replica-set.js';
import { drawDelay, type Delay } from './delay.js';
import { EventQueue } from './event-queue.js';
import type { Random } from './random.js';
import type { JobCpu } from './sim-conditions.js';
import { JobQueue, type SimJob } from './sim-job.js';
import { hasEnded, isLive, simPod, type SimPod } from './sim-pod.js';
import { WorkerReports } from './worker-reports.js';

export interface ClusterSettings {
  /** WORKER_CONCURRENCY. */
  concurrency: number;
  /** terminationGracePeriodSeconds. */
  graceSeconds: number;
  /** Trace seconds per second of the pods' clock. */
  speed: number;
  podStart: Delay;
  workerStartSeconds: number;
  firstJobExtraSeconds: number;
  /** HEARTBEAT_SECONDS, flush delay and UTILIZATION_WINDOW_SECONDS in trace seconds. */
  heartbeatSeconds: number;
  flushDelaySeconds: number;
  utilizationWindowSeconds: number;
  cpu: JobCpu;
  /** Cores all pods share (one machine); undefined: each pod has its own. */
  machineCores: number | undefined;
  random: Random;
}

/** Epoch of the pods' and the sidecar's clock at trace time 0 (any fixed date). */
export const CLOCK_EPOCH_MS = Date.UTC(2026, 0, 5, 8);

export class SimCluster {
  /** Trace seconds. */
  now = 0;
  readonly events = new EventQueue();
  /** Every pod ever created, in creation order. */
  readonly pods: SimPod[] = [];
  /** Pods not chosen for deletion and not ended, in creation order. */
  readonly live = new Set<SimPod>();
  /** `spec.replicas`. */
  replicas = 0;
  changes = 0;
  busyTerminated = 0;
  busyTerminatedWhileIdleKept = 0;
  /** Attempts taken back from a killed pod. */
  interrupted = 0;
  readonly queue = new JobQueue();
  /** Jobs added to the queue (BullMQ's id counter). */
  enqueuedTotal = 0;
  completedTotal = 0;
  /** Jobs running now, on every pod. */
  active = 0;
  readonly reports: WorkerReports;
  /** Called when the sidecar's QueueWatchers would see an event (job added, started, finished). */
  onQueueEvent: (() => void) | undefined;
  /** Pods chosen for deletion that still run jobs. */
  private readonly draining = new Set<SimPod>();
  /** Ready pods with a free slot, waiting for a job, in the order they started waiting. */
  private readonly blocked = new Map<SimPod, true>();
  private serial = 0;
  /** Pods whose worker is starting (container started, not ready yet). */
  private starting = 0;
  /** Pods starting their extraction threads (in their first job's extra time). */
  private firstJobs = 0;

  constructor(readonly settings: ClusterSettings) {
    this.reports = new WorkerReports(settings);
  }

  /** A trace time on the pods' clock, epoch ms. */
  clockMs(t: number): number {
    return CLOCK_EPOCH_MS + (t * 1000) / this.settings.speed;
  }

  /** Runs every event due up to `t`, then sets the clock to `t`. */
  async runUntil(t: number): Promise<void> {
    while (this.events.nextAt <= t) {
      const event = this.events.pop()!;
      this.now = event.at;
      await event.run();
    }
    this.now = Math.max(this.now, t);
  }

  /** `count` pods created, started and ready before the trace, having run jobs (warm). */
  startWarm(count: number): void {
    const { workerStartSeconds } = this.settings;
    for (let i = 0; i < count; i++) {
      const pod = this.createPod(-120);
      pod.containerAt = -110;
      pod.readyAt = -110 + workerStartSeconds;
      // Warm: it ran jobs before (the real lab's warm-up).
      pod.startedJob = true;
      this.becomeReady(pod, pod.readyAt);
    }
    this.replicas = count;
  }

  /** Adds a job to the queue now. */
  enqueue(job: SimJob): void {
    job.enqueuedAt = this.now;
    this.enqueuedTotal++;
    this.queue.push(job);
    this.dispatch();
    this.onQueueEvent?.();
  }

  /**
   * Sets `spec.replicas`: the ReplicaSet creates pods, or deletes the ones it ranks first, with
   * `deletionCost(pod)` as each pod's `controller.kubernetes.io/pod-deletion-cost`.
   */
  scale(replicas: number, deletionCost: (pod: SimPod) => number): void {
    if (replicas === this.replicas) return;
    this.changes++;
    this.replicas = replicas;
    const live = [...this.live];
    for (let i = live.length; i < replicas; i++) this.createPod(this.now);
    if (live.length <= replicas) return;
    const ranked: (RankedPod & { pod: SimPod })[] = live.map((pod) => {
      const ready = !Number.isNaN(pod.readyAt);
      return {
        pod,
        uid: pod.name,
        nodeName: 'node',
        phase: Number.isNaN(pod.containerAt) ? 'Pending' : 'Running',
        ready,
        readySince: ready ? this.clockMs(pod.readyAt) : 0,
        deletionCost: deletionCost(pod),
        restarts: 0,
        createdAt: this.clockMs(pod.createdAt),
      };
    });
    const victims = new Set(
      podsToDelete(ranked, live.length - replicas, this.clockMs(this.now)).map(
        (victim) => (victim as RankedPod & { pod: SimPod }).pod,
      ),
    );
    const idleKept = live.some(
      (pod) => !victims.has(pod) && !Number.isNaN(pod.readyAt) && pod.running.length === 0,
    );
    for (const pod of victims) {
      if (pod.running.length > 0) {
        this.busyTerminated++;
        if (idleKept) this.busyTerminatedWhileIdleKept++;
      }
      this.terminate(pod);
    }
  }

  /** CPU seconds (pods' clock) a pod used so far. */
  cpuSeconds(pod: SimPod): number {
    this.accrueCpu(pod);
    return pod.cpuDone;
  }

  /** Pod-seconds from trace time 0 to `end`: each pod from its creation to its end. */
  podSeconds(end: number): number {
    let sum = 0;
    for (const pod of this.pods) {
      const to = Math.min(hasEnded(pod) ? pod.endedAt : end, end);
      sum += Math.max(0, to - Math.max(pod.createdAt, 0));
    }
    return sum;
  }

  /** Cores one running job uses now: its share of the machine, if the pods share one. */
  private coresPerJob(): number {
    const { cpu, machineCores } = this.settings;
    if (machineCores === undefined || this.active === 0) return cpu.coresWhileRunning;
    return Math.min(cpu.coresWhileRunning, machineCores / this.active);
  }

  /** Adds the CPU the pod used since it was last accounted, at the current rates. */
  private accrueCpu(pod: SimPod): void {
    const { cpu, speed } = this.settings;
    const elapsed = (this.now - pod.cpuAccruedAt) / speed;
    pod.cpuAccruedAt = this.now;
    if (elapsed <= 0 || pod.running.length === 0) return;
    let rate = pod.running.length * this.coresPerJob();
    // The fixed CPU of each job, spread over its run.
    for (const job of pod.running) rate += (cpu.perJobSeconds * speed) / job.runSeconds;
    pod.cpuDone += rate * elapsed;
  }

  /** Before the number of running jobs changes: every pod's CPU at the old rates. */
  private beforeActiveChanges(pod: SimPod): void {
    if (this.settings.machineCores === undefined) {
      this.accrueCpu(pod);
      return;
    }
    for (const other of this.live) this.accrueCpu(other);
    if (!this.live.has(pod)) this.accrueCpu(pod);
    for (const other of this.draining) this.accrueCpu(other);
  }

  private createPod(at: number): SimPod {
    const pod = simPod(`pod-${++this.serial}`, at, this.settings.concurrency);
    this.pods.push(pod);
    this.live.add(pod);
    if (at >= this.now) {
      const pending = drawDelay(this.settings.podStart, this.settings.random);
      this.events.add(at + pending, () => this.containerStart(pod));
    }
    return pod;
  }

  private containerStart(pod: SimPod): void {
    if (!isLive(pod)) return;
    pod.containerAt = this.now;
    const { workerStartSeconds, machineCores } = this.settings;
    // Pods starting their worker at once share the machine's cores, if they share one.
    this.starting++;
    const share = machineCores === undefined ? 1 : Math.max(1, this.starting / machineCores);
    this.events.add(this.now + workerStartSeconds * share, () => {
      this.starting--;
      if (!isLive(pod)) return;
      this.becomeReady(pod, this.now);
    });
  }

  private becomeReady(pod: SimPod, at: number): void {
    pod.readyAt = at;
    pod.busyAccruedAt = this.now;
    this.heartbeat(pod);
    this.fill(pod);
  }

  private heartbeat(pod: SimPod): void {
    if (hasEnded(pod)) return;
    this.reports.report(pod, this.now);
    this.events.add(this.now + this.settings.heartbeatSeconds, () => this.heartbeat(pod));
  }

  /** The pod takes waiting jobs into its free slots (BullMQ fetches while it has capacity). */
  private fill(pod: SimPod): void {
    while (pod.running.length < pod.concurrency && this.queue.length > 0) {
      this.start(this.queue.shift()!, pod);
    }
    if (pod.running.length < pod.concurrency) this.blocked.set(pod, true);
    else this.blocked.delete(pod);
  }

  /** Waiting jobs go to the pods blocked on the queue, the longest-blocked first. */
  private dispatch(): void {
    for (const pod of this.blocked.keys()) {
      if (this.queue.length === 0) break;
      this.blocked.delete(pod);
      this.fill(pod);
    }
  }

  private start(job: SimJob, pod: SimPod): void {
    this.reports.accrue(pod, this.now);
    this.beforeActiveChanges(pod);
    job.startedAt = this.now;
    if (job.attempts === 0) job.firstWait = this.now - job.enqueuedAt;
    job.attempts++;
    // A pod's first job starts the worker's extraction threads: CPU that pods doing so at once
    // share, if they share the machine's cores.
    let extra = 0;
    if (!pod.startedJob && this.settings.firstJobExtraSeconds > 0) {
      const { firstJobExtraSeconds, machineCores } = this.settings;
      this.firstJobs++;
      extra =
        firstJobExtraSeconds *
        (machineCores === undefined ? 1 : Math.max(1, this.firstJobs / machineCores));
      this.events.add(this.now + extra, () => {
        this.firstJobs--;
      });
    }
    pod.startedJob = true;
    pod.running.push(job);
    this.active++;
    this.events.add(this.now + job.runSeconds + extra, () => this.finish(job, pod));
    // The worker writes its record (busy slots) with the next flush, as WorkerTelemetry does.
    this.requestFlush(pod);
    this.onQueueEvent?.();
  }

  private finish(job: SimJob, pod: SimPod): void {
    const index = pod.running.indexOf(job);
    // The attempt was taken back when its pod was killed.
    if (index < 0) return;
    this.reports.accrue(pod, this.now);
    this.beforeActiveChanges(pod);
    pod.running.splice(index, 1);
    this.active--;
    job.finishedAt = this.now;
    this.completedTotal++;
    pod.completed++;
    this.reports.jobEnded(pod, job, this.now);
    this.requestFlush(pod);
    this.onQueueEvent?.();
    if (!isLive(pod)) {
      if (pod.running.length === 0) this.end(pod);
      return;
    }
    this.fill(pod);
  }

  /** The worker writes its job ends and record after `flushDelaySeconds` (coalesced). */
  private requestFlush(pod: SimPod): void {
    if (pod.flushDue) return;
    pod.flushDue = true;
    this.events.add(this.now + this.settings.flushDelaySeconds, () => {
      pod.flushDue = false;
      if (!hasEnded(pod)) this.reports.flush(pod, this.now);
    });
  }

  /** A scale-in victim: stops taking jobs, finishes the ones it runs (SIGTERM), or is killed. */
  private terminate(pod: SimPod): void {
    pod.terminatingAt = this.now;
    this.live.delete(pod);
    this.blocked.delete(pod);
    if (Number.isNaN(pod.readyAt) || pod.running.length === 0) {
      this.end(pod);
      return;
    }
    this.draining.add(pod);
    this.events.add(this.now + this.settings.graceSeconds, () => this.kill(pod));
  }

  /** SIGKILL after the grace period: the jobs it ran go back to the head of the queue. */
  private kill(pod: SimPod): void {
    if (hasEnded(pod)) return;
    pod.killed = true;
    this.reports.accrue(pod, this.now);
    this.beforeActiveChanges(pod);
    for (const job of [...pod.running].reverse()) {
      job.startedAt = NaN;
      this.queue.unshift(job);
      this.interrupted++;
    }
    this.active -= pod.running.length;
    pod.running = [];
    this.end(pod);
    this.dispatch();
  }

  private end(pod: SimPod): void {
    this.accrueCpu(pod);
    pod.endedAt = this.now;
    this.draining.delete(pod);
    this.live.delete(pod);
    this.blocked.delete(pod);
    this.reports.leave(pod, this.now);
  }
}
