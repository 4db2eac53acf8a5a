import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The job functions a real `rq worker` imports (test/fixtures/rq/qscale_rq_jobs.py). */
export const RQ_FIXTURES = fileURLToPath(new URL('../test/fixtures/rq/', import.meta.url));

/** Where `rq` is: Debian's python3-rq puts it in /usr/bin. */
function rqCommand(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    try {
      readFileSync(`${dir}/rq`);
      return `${dir}/rq`;
    } catch {
      // not here
    }
  }
  throw new Error('rq is not installed: apt-get install python3-rq (.ci/run does)');
}

/** The Python that has RQ: the interpreter of the `rq` script (Debian's /usr/bin/python3). */
export function rqPython(): string {
  const shebang = readFileSync(rqCommand(), 'utf8').split('\n')[0] ?? '';
  const match = /^#!\s*(\S+)/.exec(shebang);
  return match ? match[1]! : 'python3';
}

/** Runs Python with RQ and the fixtures importable; resolves with its stdout. */
export async function rqPythonRun(code: string, timeoutMs = 30_000): Promise<string> {
  const { stdout } = await run(rqPython(), ['-c', code], {
    env: { ...process.env, PYTHONPATH: RQ_FIXTURES },
    timeout: timeoutMs,
  });
  return stdout;
}

/** A job to enqueue with RQ's own API: `qscale_rq_jobs.<fn>(*args)`. */
export interface RqCall {
  fn: 'work' | 'fail';
  args: (string | number)[];
}

/** Enqueues jobs with RQ's Python API (`Queue(name).enqueue`), as the app would. */
export async function rqEnqueue(port: number, queue: string, calls: RqCall[]): Promise<void> {
  await rqPythonRun(
    [
      'import json, sys',
      'from redis import Redis',
      'from rq import Queue',
      `q = Queue(${JSON.stringify(queue)}, connection=Redis(host='127.0.0.1', port=${port}))`,
      `for call in json.loads(${JSON.stringify(JSON.stringify(calls))}):`,
      "    q.enqueue('qscale_rq_jobs.' + call['fn'], *call['args'])",
    ].join('\n'),
  );
}

/** The operators' one-liner: `len(Queue(name, connection=…))`. */
export async function rqLen(port: number, queue: string): Promise<number> {
  const out = await rqPythonRun(
    `from redis import Redis; from rq import Queue; print(len(Queue(${JSON.stringify(queue)}, connection=Redis(host='127.0.0.1', port=${port}))))`,
  );
  return Number(out.trim());
}

/** A real `rq worker` process. */
export class RqWorker {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(
    port: number,
    queues: string[],
    readonly name: string,
    extra: string[] = [],
  ) {
    this.child = spawn(
      rqCommand(),
      ['worker', '-u', `redis://127.0.0.1:${port}`, '-n', name, ...extra, ...queues],
      { env: { ...process.env, PYTHONPATH: RQ_FIXTURES }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Warm shutdown (SIGTERM): RQ finishes the current job, unregisters and exits. */
  async stop(timeoutMs = 20_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
