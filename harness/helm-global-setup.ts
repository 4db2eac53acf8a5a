import type { TestProject } from 'vitest/node';
import { ensureHelm } from './helm.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The helm binary for the chart's tests, or why there is none (see harness/helm.ts). */
    helm: { path: string } | { error: string };
  }
}

/**
 * vitest's globalSetup: fetches helm once per run (from the cache after the first), before any
 * test file starts, so parallel files never fetch it twice. A failure is handed on, not thrown:
 * only the tests that need helm fail, with the reason.
 */
export default async function setup(project: TestProject): Promise<void> {
  try {
    project.provide('helm', { path: await ensureHelm() });
  } catch (error) {
    project.provide('helm', { error: (error as Error).message });
  }
}
