import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = fileURLToPath(new URL('../test-artifacts/lab-quick/', import.meta.url));

describe('npm run lab:scaling -- --quick', () => {
  it('should run the control loops on the shipped YAML against real workers and write the report', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'lab/scaling/run.ts', '--quick'],
      {
        cwd: ROOT,
        timeout: 240_000,
      },
    );
    // One line per policy on the quick trace (a burst of 20 files from zero workers).
    const lines = stdout.split('\n').filter((line) => line.startsWith('burst'));
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/lost 0$/);
    const report = await readFile(`${OUT}README.md`, 'utf8');
    expect(report).toContain('## burst: 20 files at once, from zero workers');
    const rows = report
      .slice(report.indexOf('## burst'))
      .split('\n')
      .filter((l) => /^\| (keda-redis-5|qscale-workers-push) \|/.test(l));
    expect(rows).toHaveLength(2);
    // The push policy started a job: its "first" cell is a number.
    const push = rows.find((r) => r.startsWith('| qscale-workers-push'))!;
    expect(Number(push.split('|')[2]!.trim())).toBeGreaterThan(0);
    // The goals table: both policies on the burst, no busy pod deleted while an idle one was kept.
    const goals = report.slice(
      report.indexOf('## Goals on the burst'),
      report.indexOf('## What these figures are'),
    );
    const goalRows = goals
      .split('\n')
      .filter((l) => /^\| (keda-redis-5|qscale-workers-push) \|/.test(l));
    expect(goalRows).toHaveLength(2);
    for (const row of goalRows) expect(row.split('|')[3]!.trim()).toBe('0');
    expect(report).toMatch(/Jobs lost over all 2 runs: 0\./);
    const files = await readdir(OUT);
    expect(files).toEqual(expect.arrayContaining(['burst-replicas.svg', 'burst-backlog.svg']));
    const svg = await readFile(`${OUT}burst-replicas.svg`, 'utf8');
    expect(svg.match(/<path /g)).toHaveLength(2);
  }, 300_000);
});
