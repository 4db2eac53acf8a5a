import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { LocalAutoscaler } from '../src/supervisor/local-autoscaler.js';
import { runAutoscaledWorkers } from '../src/cli/run-autoscaled-workers.js';
import type { QueueSnapshot, Sample } from '../src/queue/queue-snapshot.js';
import type { ScalingSignals } from '../src/scaling/scaling-signals.js';
import { CliProcess, type LogLine } from '../harness/cli-process.js';
import { FakeEmbeddingServer } from '../harness/fake-embedding-server.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { queueSnapshot, workerSnapshot } from '../harness/snapshots.js';
import { createTestStack, type TestStack } from '../harness/stack.js';

const FILES = 24;

async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  await vi.waitFor(
    async () => {
      if (!(await condition()))
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    },
    { timeout: timeoutMs, interval: 50 },
  );
}

/** A pino logger whose JSON lines land in `lines`. */
function captureLogger(lines: LogLine[]) {
  return pino(
    { level: 'debug', base: { role: 'autoscaler' } },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
}

/** Stands in for a worker process: exits 0 on SIGTERM (unless told to ignore it), at once on SIGKILL. */
class FakeWorker extends EventEmitter {
  static nextPid = 1000;
  readonly pid = FakeWorker.nextPid++;
  readonly received: string[] = [];
  ignoreSigterm = false;
  private gone = false;

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.received.push(signal);
    if (signal === 'SIGTERM' && this.ignoreSigterm) return true;
    queueMicrotask(() =>
      this.exit(signal === 'SIGTERM' ? 0 : null, signal === 'SIGTERM' ? null : signal),
    );
    return true;
  }

  /** The process ends (a crash when nobody asked). */
  exit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.gone) return;
    this.gone = true;
    this.emit('exit', code, signal);
  }
}

describe('LocalAutoscaler with fake workers', () => {
  let snapshot: QueueSnapshot;
  let lines: LogLine[];
  let workers: Map<string, FakeWorker>;
  let autoscaler: LocalAutoscaler;

  /** Signals that always answer with `snapshot`. */
  const signals = {
    read: async (): Promise<Sample> => ({ sampledAt: Date.now(), durationSeconds: 0, queues: [] }),
    signal: () => ({ snapshot: { ...snapshot, sampledAt: Date.now() }, rates: {} }),
  } as unknown as ScalingSignals;

  const work = (backlog: number, busy: Record<string, number>): QueueSnapshot => {
    const empty = queueSnapshot();
    const active = Object.values(busy).reduce((sum, n) => sum + n, 0);
    return queueSnapshot({
      backlog,
      counts: { ...empty.counts, wait: backlog, active },
      workers: Object.entries(busy).map(([id, n]) => workerSnapshot(id, n, 1)),
    });
  };

  const ids = () => autoscaler.state().workers.map((worker) => worker.id);

  beforeEach(() => {
    vi.useFakeTimers();
    snapshot = work(0, {});
    lines = [];
    workers = new Map();
    const config = loadConfig({
      MIN_WORKERS: '1',
      MAX_WORKERS: '3',
      AUTOSCALE_TARGET: '2',
      AUTOSCALE_INTERVAL_SECONDS: '1',
      AUTOSCALE_STABILIZATION_SECONDS: '0',
      SHUTDOWN_TIMEOUT_SECONDS: '10',
    });
    autoscaler = new LocalAutoscaler({
      config,
      logger: captureLogger(lines),
      workerIdPrefix: 'w',
      spawnWorker: (id) => {
        const worker = new FakeWorker();
        workers.set(id, worker);
        return worker as unknown as ChildProcess;
      },
    });
  });

  afterEach(async () => {
    const closed = autoscaler.close();
    await vi.runAllTimersAsync();
    await closed;
    vi.useRealTimers();
  });

  it('should stop only idle workers, and wait while every worker is busy', async () => {
    autoscaler.start(signals);
    expect(ids()).toEqual(['w-1']);
    snapshot = work(10, { 'w-1': 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ids()).toEqual(['w-1', 'w-2', 'w-3']);

    // Demand falls to 1 while w-1 and w-2 are busy: only w-3 goes.
    snapshot = work(0, { 'w-1': 1, 'w-2': 1, 'w-3': 0 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(workers.get('w-3')!.received).toEqual(['SIGTERM']);
    expect(ids()).toEqual(['w-1', 'w-2']);
    expect(autoscaler.state().lastDecision).toMatchObject({
      from: 3,
      to: 2,
      stopped: [{ id: 'w-3', busy: 0 }],
    });
    expect(autoscaler.state().lastDecision!.reason).toBe(
      'backlog 2 / target 2 → 1 worker; stopping idle w-3; 1 more once idle',
    );

    // Both busy: nothing is stopped, the scale-down waits.
    snapshot = work(0, { 'w-1': 1, 'w-2': 1 });
    await vi.advanceTimersByTimeAsync(2000);
    expect(ids()).toEqual(['w-1', 'w-2']);
    expect(autoscaler.state()).toMatchObject({ desired: 1, decisions: { up: 1, down: 1 } });

    // A worker the sample does not know yet (no heartbeat) is not taken for idle either.
    snapshot = work(0, { 'w-2': 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ids()).toEqual(['w-1', 'w-2']);

    snapshot = work(0, { 'w-1': 0, 'w-2': 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ids()).toEqual(['w-2']);
    expect(workers.get('w-2')!.received).toEqual([]);
    expect(lines.filter((line) => line.msg === 'autoscale').map((line) => line.stopped)).toEqual([
      undefined,
      [{ id: 'w-3', busy: 0 }],
      [{ id: 'w-1', busy: 0 }],
    ]);
  });

  it('should restart a crashed worker with exponential backoff, reset after a long run', async () => {
    autoscaler.start(signals);
    const crash = () => workers.get(ids()[0]!)!.exit(1, null);

    crash();
    expect(ids()).toEqual([]);
    await vi.advanceTimersByTimeAsync(999);
    expect(ids()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(ids()).toEqual(['w-2']);

    crash();
    await vi.advanceTimersByTimeAsync(1999);
    expect(ids()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(ids()).toEqual(['w-3']);

    crash();
    await vi.advanceTimersByTimeAsync(4000);
    expect(ids()).toEqual(['w-4']);
    expect(autoscaler.state().restarts).toBe(3);

    // A worker that ran 60 s brings the delay back to 1 s.
    await vi.advanceTimersByTimeAsync(60_000);
    crash();
    await vi.advanceTimersByTimeAsync(1000);
    expect(ids()).toEqual(['w-5']);
    // While a restart is pending the rounds do not start another worker on top of it.
    crash();
    await vi.advanceTimersByTimeAsync(1500);
    expect(ids()).toEqual([]);
    await vi.advanceTimersByTimeAsync(500);
    expect(ids()).toEqual(['w-6']);
    expect(autoscaler.state()).toMatchObject({ restarts: 5, decisions: { up: 0, down: 0 } });
  });

  it('should drop a pending restart before stopping a worker when demand falls', async () => {
    autoscaler.start(signals);
    snapshot = work(10, { 'w-1': 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ids()).toEqual(['w-1', 'w-2', 'w-3']);
    // w-3 crashes mid-interval (t=1.3 s, restart due at 2.3 s); at the 2 s round demand has
    // fallen to 1 while w-1 and w-2 are busy.
    await vi.advanceTimersByTimeAsync(300);
    workers.get('w-3')!.exit(1, null);
    snapshot = work(0, { 'w-1': 1, 'w-2': 1 });
    await vi.advanceTimersByTimeAsync(800);
    expect(autoscaler.state().lastDecision).toEqual({
      at: expect.any(Number),
      from: 3,
      to: 2,
      reason: 'backlog 2 / target 2 → 1 worker; not restarting 1 exited; 1 more once idle',
    });
    await vi.advanceTimersByTimeAsync(5000);
    expect(ids()).toEqual(['w-1', 'w-2']);
    expect(autoscaler.state()).toMatchObject({ restarts: 0, decisions: { up: 1, down: 1 } });
  });

  it('should SIGKILL a worker that does not stop within SHUTDOWN_TIMEOUT_SECONDS + 7 s on close()', async () => {
    autoscaler.start(signals);
    const worker = workers.get('w-1')!;
    worker.ignoreSigterm = true;
    let closed = false;
    const closing = autoscaler.close().then(() => (closed = true));
    // SHUTDOWN_TIMEOUT_SECONDS (10 here) + 7 s: past the worker's own deadline (+ 5 s).
    await vi.advanceTimersByTimeAsync(16_999);
    expect(worker.received).toEqual(['SIGTERM']);
    expect(closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await closing;
    expect(worker.received).toEqual(['SIGTERM', 'SIGKILL']);
    expect(autoscaler.state().workers).toEqual([]);
    // Nothing is restarted after close().
    await vi.advanceTimersByTimeAsync(60_000);
    expect(autoscaler.state()).toMatchObject({ workers: [], restarts: 0 });
  });
});

describe('LocalAutoscaler', () => {
  let redis: TestRedisServer;
  let embeddings: FakeEmbeddingServer;
  let stack: TestStack;
  let autoscaler: LocalAutoscaler | undefined;
  /** Every worker process the autoscaler started, by WORKER_ID. */
  const children = new Map<string, CliProcess>();
  /** The autoscaler's own log lines. */
  const logs: LogLine[] = [];
  const decisions = () => logs.filter((line) => line.msg === 'autoscale');
  const running = () => autoscaler!.state().workers.filter((worker) => !worker.stopping);

  beforeAll(async () => {
    redis = await startRedisServer();
    // Every job makes one embedding request, answered 400 ms late: a job takes ~0.4 s.
    embeddings = await new FakeEmbeddingServer({ delayMs: 400 }).start();
    stack = await createTestStack(
      redis,
      {
        EMBEDDING_PROVIDER: 'openai',
        EMBEDDING_URL: embeddings.url,
        WORKER_CONCURRENCY: '1',
        HEARTBEAT_SECONDS: '1',
        SHUTDOWN_TIMEOUT_SECONDS: '10',
        MIN_WORKERS: '1',
        MAX_WORKERS: '3',
        AUTOSCALE_MODE: 'backlog',
        AUTOSCALE_TARGET: '2',
        AUTOSCALE_INTERVAL_SECONDS: '1',
        AUTOSCALE_STABILIZATION_SECONDS: '3',
      },
      { worker: false },
    );
    const { config } = stack;
    const logger = pino(
      { level: 'info', base: { role: 'autoscaler' } },
      { write: (line: string) => logs.push(JSON.parse(line) as LogLine) },
    );
    autoscaler = await runAutoscaledWorkers(config, logger, {
      spawnWorker: (workerId) => {
        const proc = new CliProcess(['worker'], {
          REDIS_URL: redis.url,
          QUEUE_NAME: config.queue.name,
          UPLOAD_DIR: config.http.uploadDir,
          EMBEDDING_PROVIDER: 'openai',
          EMBEDDING_URL: embeddings.url,
          WORKER_CONCURRENCY: '1',
          HEARTBEAT_SECONDS: '1',
          SHUTDOWN_TIMEOUT_SECONDS: '10',
          LOG_LEVEL: 'info',
          WORKER_ID: workerId,
        });
        children.set(workerId, proc);
        return proc.child;
      },
    });
  });

  afterAll(async () => {
    await autoscaler?.close();
    // Whatever the autoscaler left behind (it should be nothing) goes too.
    await Promise.all([...children.values()].map((proc) => proc.stop()));
    await stack?.close();
    await embeddings?.stop();
    await redis?.stop();
  });

  it('should scale up to the maximum for a burst, process every file once, and scale back down to the minimum, stopping only idle workers', async () => {
    expect(running()).toHaveLength(1);
    const first = children.get(running()[0]!.id)!;
    await first.waitForLog((line) => line.msg === 'worker taking jobs');

    let mostRunning = 0;
    const watch = setInterval(() => {
      mostRunning = Math.max(mostRunning, running().length);
    }, 50);
    try {
      const ids = await Promise.all(
        Array.from({ length: FILES }, async (_, i) => {
          const res = await request(stack.app)
            .post('/api/v1/files')
            .attach('file', Buffer.from(`Document ${i} is about subject-${i}.`), `doc-${i}.txt`);
          expect(res.status).toBe(202);
          return (res.body as { id: string }).id;
        }),
      );

      await until('3 workers running', () => running().length === 3, 10_000);
      const up = decisions().find((line) => line.to === 3);
      expect(up).toMatchObject({ from: 1, to: 3 });
      expect(String(up!.reason)).toMatch(/^backlog \d+ \/ target 2 → \d+ workers \(max 3\)$/);

      // The queue drains: every file completes, on its first attempt.
      for (const id of ids) {
        const record = await stack.waitForStatus(id, 'completed', 30_000);
        expect(record.attempts).toBe(1);
      }
      // A worker logs "file processed" just after the record says completed: wait for the lines.
      const processedLines = () =>
        [...children.values()].flatMap((proc) =>
          proc.lines.filter((line) => line.msg === 'file processed').map((line) => line.fileId),
        );
      await until('every file logged', () => processedLines().length >= ids.length, 5_000);
      expect(processedLines().sort()).toEqual([...ids].sort());
      const helpers = [...children.values()].filter((proc) =>
        proc.lines.some((line) => line.msg === 'file processed'),
      );
      expect(helpers.length).toBeGreaterThanOrEqual(2);

      // Back to the minimum once the stabilization window has passed, stopped workers gone.
      await until(
        'the autoscaler to be back at 1 worker',
        () => autoscaler!.state().workers.length === 1 && autoscaler!.state().desired === 1,
        20_000,
      );
      const downs = decisions().filter((line) => Number(line.to) < Number(line.from));
      expect(downs.length).toBeGreaterThanOrEqual(1);
      // Recommendations of 3 are remembered for the 3 s window: no scale-down before it passed.
      expect(Number(downs[0]!.time) - Number(up!.time)).toBeGreaterThanOrEqual(3000);
      for (const down of downs) {
        expect(String(down.reason)).toMatch(
          /^backlog \d+ \/ target 2 → \d+ workers?.*; stopping idle /,
        );
        const stopped = down.stopped as { id: string; busy: number }[];
        expect(stopped.length).toBeGreaterThan(0);
        // Only idle workers are stopped: busy 0 in the sample the decision was made on.
        for (const worker of stopped) expect(worker.busy).toBe(0);
      }
      // The stopped workers finished gracefully (exit 0 after SIGTERM).
      const stoppedIds = downs.flatMap((down) =>
        (down.stopped as { id: string }[]).map((worker) => worker.id),
      );
      expect(stoppedIds).toHaveLength(2);
      for (const id of stoppedIds) {
        expect(await children.get(id)!.exited).toEqual({ code: 0, signal: null });
      }
    } finally {
      clearInterval(watch);
    }
    expect(mostRunning).toBe(3);
    const state = autoscaler!.state();
    expect(state.decisions.up).toBeGreaterThanOrEqual(1);
    expect(state.decisions.down).toBeGreaterThanOrEqual(1);
    expect(state.restarts).toBe(0);
  }, 50_000);

  it('should restart a worker killed with SIGKILL, and count the restart', async () => {
    const [victim] = running();
    expect(victim).toBeDefined();
    children.get(victim!.id)!.kill('SIGKILL');

    await until(
      'a replacement worker',
      () =>
        autoscaler!.state().restarts === 1 &&
        running().length === 1 &&
        running()[0]!.id !== victim!.id,
      10_000,
    );
    const replacement = children.get(running()[0]!.id)!;
    await replacement.waitForLog((line) => line.msg === 'worker taking jobs');
    expect(
      logs.some((line) => line.msg === 'worker exited without being asked: restarting it'),
    ).toBe(true);

    const registry = new Registry();
    autoscaler!.registerMetrics(registry);
    const text = await registry.metrics();
    const queue = stack.config.queue.name;
    expect(text).toContain(`qscale_autoscaler_workers{queue="${queue}"} 1`);
    expect(text).toContain(`qscale_autoscaler_desired_workers{queue="${queue}"} 1`);
    expect(text).toContain(`qscale_autoscaler_restarts_total{queue="${queue}"} 1`);
    expect(text).toMatch(
      new RegExp(`qscale_autoscaler_decisions_total\\{queue="${queue}",direction="up"\\} [1-9]`),
    );
    expect(text).toMatch(
      new RegExp(`qscale_autoscaler_decisions_total\\{queue="${queue}",direction="down"\\} [1-9]`),
    );
  }, 20_000);

  it('should stop every worker on close(), and close only once', async () => {
    const alive = [...children.values()].filter(
      (proc) => proc.child.exitCode === null && proc.child.signalCode === null,
    );
    expect(alive.length).toBeGreaterThan(0);
    await Promise.all([autoscaler!.close(), autoscaler!.close()]);
    expect(autoscaler!.state().workers).toEqual([]);
    for (const proc of alive) expect((await proc.exited).code).toBe(0);
    expect(logs.filter((line) => line.msg === 'autoscaler stopped')).toHaveLength(1);
  }, 20_000);
});
