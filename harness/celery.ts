import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The tasks a real Celery worker imports (test/fixtures/celery/qscale_celery_tasks.py). */
export const CELERY_FIXTURES = fileURLToPath(new URL('../test/fixtures/celery/', import.meta.url));

/**
 * The Python that has Celery: Debian's python3-celery installs into /usr/bin/python3 (a pyenv
 * python3 first on PATH does not have it).
 */
export function celeryPython(): string {
  if (!existsSync('/usr/bin/python3')) {
    throw new Error('Celery is not installed: apt-get install python3-celery (.ci/run does)');
  }
  return '/usr/bin/python3';
}

function celeryEnv(port: number, events: boolean): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PYTHONPATH: CELERY_FIXTURES,
    QSCALE_CELERY_BROKER: `redis://127.0.0.1:${port}/0`,
    QSCALE_CELERY_EVENTS: events ? '1' : '0',
  };
}

/** Runs Python code with Celery and the test tasks, its broker the redis-server on `port`. */
export async function celeryPythonRun(
  port: number,
  code: string,
  timeoutMs = 60_000,
): Promise<string> {
  const { stdout } = await run(celeryPython(), ['-c', code], {
    env: celeryEnv(port, false),
    timeout: timeoutMs,
  });
  return stdout;
}

/** A task to send with Celery's own API: `qscale_celery_tasks.<fn>.apply_async(args, …)`. */
export interface CeleryCall {
  fn: 'work' | 'fail';
  args: number[];
  /** 0 to 9 (kombu's lists: 0, 3, 6, 9 by default). */
  priority?: number;
  countdown?: number;
}

/**
 * Sends tasks to `queue` with Celery's Python API, as the app would; with `events`, the app sends
 * task-sent events (`task_send_sent_event`). Resolves with the task ids.
 */
export async function celerySend(
  port: number,
  queue: string,
  calls: CeleryCall[],
  events = true,
): Promise<string[]> {
  const code = [
    'import json',
    'import qscale_celery_tasks as tasks',
    'ids = []',
    `for call in json.loads(${JSON.stringify(JSON.stringify(calls))}):`,
    '    options = {k: call[k] for k in ("priority", "countdown") if k in call}',
    `    ids.append(getattr(tasks, call['fn']).apply_async(tuple(call['args']), queue=${JSON.stringify(queue)}, **options).id)`,
    'print(json.dumps(ids))',
  ].join('\n');
  const { stdout } = await run(celeryPython(), ['-c', code], {
    env: celeryEnv(port, events),
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as string[];
}

/** What Celery's own API answers for a queue's size (kombu's `_size`: every priority list). */
export async function celeryLen(port: number, queue: string): Promise<number> {
  const { stdout } = await run(
    celeryPython(),
    [
      '-c',
      `import qscale_celery_tasks as t\nwith t.app.connection_for_write() as c:\n    print(c.default_channel._size(${JSON.stringify(queue)}))`,
    ],
    { env: celeryEnv(port, false), timeout: 30_000 },
  );
  return Number(stdout.trim());
}

/**
 * A real Celery worker (`python3 -m celery worker`, prefork pool) consuming `queue`, with events
 * (`-E`) or without, in a process group of its own so that its pool goes with it.
 */
export class CeleryWorker {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;
  /** Resolves once the worker logged that it is ready (rejects when it exits first or after 30 s). */
  readonly ready: Promise<void>;

  constructor(
    port: number,
    queue: string,
    readonly name: string,
    options: { events: boolean; concurrency?: number; prefetch?: number },
  ) {
    this.child = spawn(
      celeryPython(),
      [
        '-m',
        'celery',
        '-A',
        'qscale_celery_tasks',
        'worker',
        ...(options.events ? ['-E'] : []),
        '--without-mingle',
        '--without-gossip',
        '--loglevel=info',
        '-c',
        String(options.concurrency ?? 1),
        '--prefetch-multiplier',
        String(options.prefetch ?? 1),
        '-Q',
        queue,
        '-n',
        `${name}@%h`,
      ],
      { env: celeryEnv(port, options.events), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker not ready:\n${this.output}`)),
        30_000,
      );
      const check = () => {
        if (/ ready\./.test(this.output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      this.child.stdout!.on('data', check);
      this.child.stderr!.on('data', check);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`worker exited:\n${this.output}`));
      });
    });
    this.ready.catch(() => undefined);
  }

  /** The worker's hostname as its events name it (`<name>@<host>`). */
  get hostname(): string {
    return /\b(\S+@\S+) v\d/.exec(this.output)?.[1] ?? '';
  }

  private signal(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.child.pid!, signal);
    } catch {
      // gone already
    }
  }

  /** Warm shutdown (SIGTERM, Celery finishes running tasks), then SIGKILL to the group. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    this.signal('SIGKILL');
  }

  /** SIGKILL to the whole group at once (a worker lost without warm shutdown). */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.signal('SIGKILL');
    await this.exited;
  }
}
