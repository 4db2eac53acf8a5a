import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Env } from '../src/config/load-config.js';

const SOURCE_MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const BUILT_MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

export interface CliProcessOptions {
  /** Run the source through tsx (tests), or the build in dist/ (benchmarks). @defaultValue 'source' */
  entry?: 'source' | 'dist';
  /**
   * Run it in a process group of its own (as a shell runs a command in a terminal), so a test can
   * signal the whole group the way Ctrl-C does, without reaching the test runner.
   */
  processGroup?: boolean;
}

/** One JSON log line of a qscale process. */
export type LogLine = Record<string, unknown> & { msg?: string };

/**
 * A real `qscale <command>` process (run from source through tsx), with its JSON log lines
 * collected so tests can wait for what it says.
 */
export class CliProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: Env, options: CliProcessOptions = {}) {
    const entry = options.entry === 'dist' ? [BUILT_MAIN] : ['--import', 'tsx', SOURCE_MAIN];
    this.child = spawn(process.execPath, [...entry, ...args], {
      env: { ...process.env, LOG_LEVEL: 'info', ...env } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.processGroup === true,
    });
    let pending = '';
    this.child.stdout!.on('data', (data: Buffer) => {
      this.stdout += data.toString();
      pending += data.toString();
      const parts = pending.split('\n');
      pending = parts.pop()!;
      for (const part of parts) {
        try {
          this.lines.push(JSON.parse(part) as LogLine);
        } catch {
          // not a log line
        }
      }
    });
    this.child.stderr!.on('data', (data: Buffer) => {
      this.stderr += data.toString();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  /** Resolves with the first log line matching `predicate`, or rejects after `timeoutMs`. */
  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const line = this.lines.find(predicate);
      if (line) return line;
      if (this.child.exitCode !== null) {
        throw new Error(
          `process exited (${this.child.exitCode}) before the log line; stderr: ${this.stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(
      `no matching log line within ${timeoutMs} ms; stdout: ${this.stdout.slice(-2000)}; stderr: ${this.stderr}`,
    );
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Signals every process of its group (see `processGroup`), like a Ctrl-C in a terminal. */
  killGroup(signal: NodeJS.Signals): void {
    if (this.child.pid !== undefined) process.kill(-this.child.pid, signal);
  }

  /** SIGKILLs the process if it is still running and waits for it to go. */
  async stop(): Promise<void> {
    this.kill('SIGKILL');
    await this.exited;
  }
}

/** Runs a CLI command to completion. */
export async function runCli(
  args: string[],
  env: Env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = new CliProcess(args, env);
  const { code } = await proc.exited;
  return { code, stdout: proc.stdout, stderr: proc.stderr };
}
