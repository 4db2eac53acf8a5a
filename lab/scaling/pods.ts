import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { podsToDelete, type RankedPod } from './replica-set.js';

const ENTRY = fileURLToPath(new URL('./pod-entry.mjs', import.meta.url));
const BUILT_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/** The built CLI (`npm run lab:scaling` builds it first), else the sources through tsx. */
const ENTRY_ARGS = existsSync(BUILT_MAIN) ? [ENTRY] : ['--import', 'tsx', ENTRY];
/** Linux reports process CPU in clock ticks of 1/100 s. */
const CLOCK_TICKS = 100;

/** User + system CPU seconds of a process so far (0 once it is gone). */
function processCpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/**
 * Containers in standby (`pod-entry.mjs`): processes that have loaded the worker's code and wait
 * for a pod's env. The lab keeps enough of them between runs that a pod's start-up is its stated
 * delay plus the worker's own start (connect, create the BullMQ worker), not the time 2 cores need
 * to load many Node processes at once. When the pool runs dry a pod loads its own (a cold start,
 * counted).
 */
export class StandbyPool {
  private readonly ready: Container[] = [];
  private readonly all = new Set<ChildProcess>();
  /** The containers' logs: files, not pipes, so a busy lab process never stalls a worker's log. */
  private readonly logDir = mkdtempSync(join(tmpdir(), 'qscale-lab-pods-'));
  private serial = 0;
  coldStarts = 0;

  private async spawnOne(): Promise<Container> {
    const logPath = join(this.logDir, `${++this.serial}.log`);
    const log = openSync(logPath, 'w');
    const child = spawn(process.execPath, ENTRY_ARGS, { stdio: ['ignore', log, log, 'ipc'] });
    closeSync(log);
    this.all.add(child);
    child.once('exit', () => this.all.delete(child));
    const [message] = (await Promise.race([
      once(child, 'message'),
      once(child, 'exit').then(() => {
        throw new Error('a standby pod process exited before it was ready');
      }),
    ])) as [unknown];
    if (!(message as { standby?: boolean }).standby) throw new Error('unexpected pod message');
    return { child, logPath };
  }

  /** Loads processes until `count` wait in standby (a few at a time: 2 cores). */
  async fill(count: number): Promise<void> {
    while (this.ready.length < count) {
      const batch = Math.min(2, count - this.ready.length);
      this.ready.push(...(await Promise.all(Array.from({ length: batch }, () => this.spawnOne()))));
    }
  }

  async take(): Promise<Container> {
    const container = this.ready.shift();
    if (container) return container;
    this.coldStarts++;
    return this.spawnOne();
  }

  /** SIGKILLs every process at once, synchronously (for a process 'exit' handler). */
  killAll(): void {
    for (const child of this.all) child.kill('SIGKILL');
  }

  async close(): Promise<void> {
    const all = [...this.all];
    for (const child of all) child.kill('SIGKILL');
    await Promise.all(all.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
    this.ready.length = 0;
    rmSync(this.logDir, { recursive: true, force: true });
  }
}

/** A standby process and the file its output goes to. */
interface Container {
  child: ChildProcess;
  logPath: string;
}

/**
 * One worker pod: created Pending; after the stated start-up delay (image pull + container start)
 * its container, a standby process, runs the real `qscale worker`; Ready once the worker says
 * "worker taking jobs" (what a readiness probe on it would see).
 */
export class Pod {
  readonly name: string;
  readonly createdAt: number;
  child?: ChildProcess;
  /** When its container started (the start-up delay over). */
  startedAt = 0;
  readySince = 0;
  endedAt = 0;
  terminating = false;
  killed = false;
  private cpuAtStart = 0;
  private startTimer?: NodeJS.Timeout;
  private killTimer?: NodeJS.Timeout;
  readonly exited: Promise<void>;
  private resolveExited!: () => void;

  constructor(
    name: string,
    env: NodeJS.ProcessEnv,
    startDelayMs: number,
    now: number,
    private readonly pool: StandbyPool,
  ) {
    this.name = name;
    this.createdAt = now;
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.startTimer = setTimeout(() => void this.start(env), startDelayMs);
  }

  private async start(env: NodeJS.ProcessEnv): Promise<void> {
    this.startTimer = undefined;
    if (this.terminating) return;
    const { child, logPath } = await this.pool.take();
    if (this.terminating) {
      child.kill('SIGKILL');
      this.endedAt = Date.now();
      this.resolveExited();
      return;
    }
    this.child = child;
    this.startedAt = Date.now();
    this.cpuAtStart = processCpuSeconds(child.pid);
    // The readiness probe: the worker's "worker taking jobs" line in its log.
    const probe = setInterval(() => {
      if (this.endedAt || readFileSync(logPath, 'utf8').includes('worker taking jobs')) {
        if (!this.endedAt) this.readySince = Date.now();
        clearInterval(probe);
      }
    }, 10);
    child.once('exit', (_code, signal) => {
      this.endedAt = Date.now();
      this.killed = signal === 'SIGKILL';
      clearTimeout(this.killTimer);
      this.resolveExited();
    });
    child.send({ env: { ...env, WORKER_ID: this.name, LOG_LEVEL: 'info' } });
  }

  get phase(): RankedPod['phase'] {
    return this.child ? 'Running' : 'Pending';
  }

  get ready(): boolean {
    return this.readySince > 0 && !this.terminating && this.endedAt === 0;
  }

  /** CPU seconds the pod's worker used since its container started (0 before). */
  cpuSeconds(): number {
    if (!this.child || this.endedAt) return 0;
    return processCpuSeconds(this.child.pid) - this.cpuAtStart;
  }

  /** SIGTERM, then SIGKILL after the grace period (as the kubelet does). */
  terminate(graceMs: number): void {
    if (this.terminating) return;
    this.terminating = true;
    if (!this.child) {
      // Not started yet (still in its start-up delay, or taking a standby process).
      if (this.startTimer) {
        clearTimeout(this.startTimer);
        this.startTimer = undefined;
        this.endedAt = Date.now();
        this.resolveExited();
      }
      return;
    }
    this.child.kill('SIGTERM');
    this.killTimer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
  }
}

/** The worker Deployment: its replica count and the pods a ReplicaSet would keep. */
export class Deployment {
  readonly pods: Pod[] = [];
  replicas = 0;
  private serial = 0;
  /** Replica changes made, and busy pods chosen for deletion. */
  changes = 0;
  busyTerminated = 0;
  /** Busy pods chosen for deletion while a ready pod with no job was kept. */
  busyTerminatedWhileIdleKept = 0;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly startDelayMs: number,
    private readonly graceMs: number,
    private readonly pool: StandbyPool,
  ) {}

  get live(): Pod[] {
    return this.pods.filter((p) => !p.terminating && p.endedAt === 0);
  }

  /** Sets `spec.replicas`; the ReplicaSet creates pods or deletes the ones it ranks first. */
  scale(replicas: number, busySlots: (pod: string) => number): void {
    if (replicas === this.replicas) return;
    this.changes++;
    this.replicas = replicas;
    const live = this.live;
    const now = Date.now();
    for (let i = live.length; i < replicas; i++) {
      this.pods.push(new Pod(`pod-${++this.serial}`, this.env, this.startDelayMs, now, this.pool));
    }
    if (live.length > replicas) {
      const ranked: (RankedPod & { pod: Pod })[] = live.map((pod) => ({
        pod,
        uid: pod.name,
        nodeName: 'node',
        phase: pod.phase,
        ready: pod.ready,
        readySince: pod.readySince,
        // The exporter keeps controller.kubernetes.io/pod-deletion-cost at the busy slots.
        deletionCost: busySlots(pod.name),
        restarts: 0,
        createdAt: pod.createdAt,
      }));
      const victims = podsToDelete(ranked, live.length - replicas, now).map(
        (victim) => (victim as RankedPod & { pod: Pod }).pod,
      );
      const idleKept = live.some(
        (pod) => !victims.includes(pod) && pod.ready && busySlots(pod.name) === 0,
      );
      for (const pod of victims) {
        if (busySlots(pod.name) > 0) {
          this.busyTerminated++;
          if (idleKept) this.busyTerminatedWhileIdleKept++;
        }
        pod.terminate(this.graceMs);
      }
    }
  }

  /**
   * Pod-seconds from `since` to `now`: each pod from its creation (or `since`, for the pods that
   * were already running) to its end, whether started, ready or not.
   */
  podSeconds(since: number, now: number): number {
    return this.pods.reduce(
      (sum, p) => sum + Math.max(0, (p.endedAt || now) - Math.max(p.createdAt, since)) / 1000,
      0,
    );
  }

  /** Waits until every pod is ready (the replicas that run before a trace starts). */
  async allReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.live.every((p) => p.ready)) {
      if (Date.now() > deadline) throw new Error('the initial pods did not become ready in time');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    for (const pod of this.pods) pod.terminate(2000);
    await Promise.all(this.pods.map((p) => p.exited));
  }
}
