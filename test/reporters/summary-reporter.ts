import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after vitest's own report,
 * so tools that read test totals from the last lines understand a vitest run too.
 */
export class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    for (const module of testModules) {
      for (const test of module.children.allTests()) counts[test.result().state]++;
    }
    // A file that failed to load has no tests: count it as a failure.
    const brokenFiles = testModules.filter(
      (module) => module.state() === 'failed' && [...module.children.allTests()].length === 0,
    ).length;
    process.stdout.write(
      `\ntests: ${counts.passed} passed, ${counts.failed + brokenFiles} failed, ${counts.skipped + counts.pending} skipped\n`,
    );
  }
}
