import { defineConfig } from 'vitest/config';
import { SummaryReporter } from './test/reporters/summary-reporter.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A real helm for the chart's tests, fetched once into ~/.cache/qscale (harness/helm.ts).
    globalSetup: ['harness/helm-global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Every test file starts its own redis-server; two cores run two files at a time.
    maxWorkers: 2,
    reporters: ['default', new SummaryReporter()],
  },
});
