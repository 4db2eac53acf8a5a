import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import getPort from 'get-port';
import { vi } from 'vitest';
import { killChild } from './kill-child.js';

/** The answer of `/api/v1/query`. */
export interface PromQueryResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: {
    resultType: 'vector' | 'matrix' | 'scalar' | 'string';
    result: unknown;
  };
}

/**
 * A real `prometheus` from PATH on a free loopback port, scraping `targets` (host:port) every
 * second as job `qscale`, its TSDB under `dir` (the caller removes `dir`).
 */
export class TestPrometheus {
  url = '';
  private child?: ChildProcess;
  private log = '';

  constructor(
    private readonly targets: string[],
    private readonly dir: string,
  ) {}

  async start(): Promise<this> {
    const port = await getPort({ host: '127.0.0.1' });
    this.url = `http://127.0.0.1:${port}`;
    const configFile = join(this.dir, 'prometheus.yml');
    await writeFile(
      configFile,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: qscale',
        '    static_configs:',
        `      - targets: [${this.targets.map((t) => `'${t}'`).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const child = spawn(
      'prometheus',
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    child.stderr!.on(
      'data',
      (data: Buffer) => (this.log = (this.log + data.toString()).slice(-4000)),
    );
    try {
      await this.waitUntilReady(child);
    } catch (error) {
      await this.stop();
      throw error;
    }
    return this;
  }

  private async waitUntilReady(child: ChildProcess): Promise<void> {
    // Until /-/ready answers 200 (20 s); an exit ends the wait at once, with that error.
    const exited = await vi.waitFor(
      async () => {
        if (child.exitCode !== null) return new Error(`prometheus exited: ${this.log}`);
        const ready = await fetch(`${this.url}/-/ready`).then(
          (res) => res.ok,
          () => false, // not listening yet
        );
        if (!ready) throw new Error(`prometheus not ready within 20 s: ${this.log}`);
        return undefined;
      },
      { timeout: 20_000, interval: 100 },
    );
    if (exited) throw exited;
  }

  /** An instant query at the current time. */
  async query(expr: string): Promise<PromQueryResponse> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as PromQueryResponse;
  }

  /** Polls `expr` until it returns at least `count` series, or throws after `timeoutMs`. */
  async waitForSeries(expr: string, count: number, timeoutMs = 15_000): Promise<void> {
    await vi.waitFor(
      async () => {
        const last = await this.query(expr);
        const result = last.data?.result;
        if (Array.isArray(result) && result.length >= count) return;
        throw new Error(
          `${expr} did not return ${count} series within ${timeoutMs} ms: ${JSON.stringify(last)}\n${this.log}`,
        );
      },
      { timeout: timeoutMs, interval: 200 },
    );
  }

  /** The last lines prometheus wrote to stderr. */
  get recentLog(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await killChild(child);
  }
}

export async function startPrometheus(targets: string[], dir: string): Promise<TestPrometheus> {
  return new TestPrometheus(targets, dir).start();
}
