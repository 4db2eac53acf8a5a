import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { podsToDelete, type RankedPod } from './replica-set.js';

const BUILT_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const SOURCE_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** The built CLI (`npm run lab:scaling` builds it first), else the sources through tsx. */
const WORKER_COMMAND = existsSync(BUILT_MAIN)
  ? [BUILT_MAIN, 'worker']
  : ['--import', 'tsx', SOURCE_MAIN, 'worker'];
/** Linux reports process CPU in clock ticks of 1/100 s. */
const CLOCK_TICKS = 100;

/** One worker pod: a real `qscale worker` process, started after the pod's start-up delay. */
export class Pod {
  readonly name: string;
  readonly createdAt: number;
  child?: ChildProcess;
  readySince = 0;
  endedAt = 0;
  terminating = false;
  killed = false;
  private startTimer?: NodeJS.Timeout;
  private killTimer?: NodeJS.Timeout;
  readonly exited: Promise<void>;
  private resolveExited!: () => void;

  constructor(name: string, env: NodeJS.ProcessEnv, startDelayMs: number, now: number) {
    this.name = name;
    this.createdAt = now;
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.startTimer = setTimeout(() => this.start(env), startDelayMs);
  }

  private start(env: NodeJS.ProcessEnv): void {
    this.startTimer = undefined;
    if (this.terminating) return;
    const child = spawn(process.execPath, WORKER_COMMAND, {
      env: { ...process.env, ...env, WORKER_ID: this.name, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      if (this.readySince) return;
      buffered += chunk.toString();
      if (buffered.includes('worker taking jobs')) this.readySince = Date.now();
    });
    child.stderr!.on('data', () => undefined);
    child.once('exit', (_code, signal) => {
      this.endedAt = Date.now();
      this.killed = signal === 'SIGKILL';
      clearTimeout(this.killTimer);
      this.resolveExited();
    });
  }

  get phase(): RankedPod['phase'] {
    return this.child ? 'Running' : 'Pending';
  }

  get ready(): boolean {
    return this.readySince > 0 && !this.terminating && this.endedAt === 0;
  }

  /** User + system CPU seconds of the process so far (0 before it started). */
  cpuSeconds(): number {
    const pid = this.child?.pid;
    if (!pid || this.endedAt) return 0;
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      return 0;
    }
  }

  /** SIGTERM, then SIGKILL after the grace period (as the kubelet does). */
  terminate(graceMs: number): void {
    if (this.terminating) return;
    this.terminating = true;
    if (this.startTimer) {
      clearTimeout(this.startTimer);
      this.startTimer = undefined;
      this.endedAt = Date.now();
      this.resolveExited();
      return;
    }
    this.child?.kill('SIGTERM');
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

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly startDelayMs: number,
    private readonly graceMs: number,
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
      this.pods.push(new Pod(`pod-${++this.serial}`, this.env, this.startDelayMs, now));
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
      for (const victim of podsToDelete(ranked, live.length - replicas, now)) {
        const { pod } = victim as RankedPod & { pod: Pod };
        if (busySlots(pod.name) > 0) this.busyTerminated++;
        pod.terminate(this.graceMs);
      }
    }
  }

  /** Pod-seconds so far: from creation to end (or now), whether started, ready or not. */
  podSeconds(now: number): number {
    return this.pods.reduce((sum, p) => sum + ((p.endedAt || now) - p.createdAt) / 1000, 0);
  }

  async close(): Promise<void> {
    for (const pod of this.pods) pod.terminate(2000);
    await Promise.all(this.pods.map((p) => p.exited));
  }
}
