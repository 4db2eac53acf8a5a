import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = fileURLToPath(new URL('../test-artifacts/sim-quick/', import.meta.url));

interface QuickRuns {
  runs: {
    trace: string;
    objectiveSeconds: number;
    clairvoyant: { workerSeconds: number; waitMax: number; lowerBound: number };
    results: {
      policy: string;
      lost: number;
      files: number;
      completed: number;
      unfinished: number;
      neverStarted: number;
      waitP95: number | null;
      workerSeconds: number;
    }[];
  }[];
}

describe('npm run lab:scaling -- --sim --quick', () => {
  it('should simulate the policies and the clairvoyant and write the report', async () => {
    await rm(OUT, { recursive: true, force: true });
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'lab/scaling/run.ts', '--sim', '--quick'],
      { cwd: ROOT, timeout: 60_000 },
    );
    // One line per simulated run, each with its time.
    const lines = stdout.split('\n').filter((line) => / ms: drain /.test(line));
    expect(lines).toHaveLength(8);
    const report = await readFile(`${OUT}README.md`, 'utf8');
    expect(report).toContain('## Headline');
    expect(report).toContain('### burst: 20 files at once, from zero workers');
    expect(report).toContain('## The clairvoyant reference');
    expect(report).toContain('Jobs lost over all runs: 0.');
    const files = await readdir(OUT);
    expect(files).toEqual(
      expect.arrayContaining(['burst-fixed-replicas.svg', 'burst-fixed-backlog.svg']),
    );
    // The replicas chart: the charted policies of the four (fixed-max, keda-redis-5,
    // qscale-workers-push) and the clairvoyant.
    const svg = await readFile(`${OUT}burst-fixed-replicas.svg`, 'utf8');
    expect(svg.match(/<path /g)).toHaveLength(4);

    const { runs } = JSON.parse(await readFile(`${OUT}results.json`, 'utf8')) as QuickRuns;
    expect(runs.map((r) => r.trace)).toEqual(['burst', 'steady']);
    let met = 0;
    for (const r of runs) {
      // The clairvoyant starts every job within the objective, above the true lower bound.
      expect(r.clairvoyant.waitMax).toBeLessThanOrEqual(r.objectiveSeconds);
      expect(r.clairvoyant.workerSeconds).toBeGreaterThanOrEqual(r.clairvoyant.lowerBound);
      for (const p of r.results) {
        expect(p.lost, `${r.trace} ${p.policy}`).toBe(0);
        expect(p.completed + p.unfinished).toBe(p.files);
        if (p.neverStarted === 0 && p.waitP95 !== null && p.waitP95 <= r.objectiveSeconds) {
          met++;
          expect(r.clairvoyant.workerSeconds, `${r.trace} ${p.policy}`).toBeLessThanOrEqual(
            p.workerSeconds,
          );
        }
      }
    }
    // The fixed pool meets the objective on both traces at least: the comparison was made.
    expect(met).toBeGreaterThanOrEqual(2);
  }, 90_000);
});
