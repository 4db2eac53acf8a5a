/**
 * Clean-up for benchmarks: whatever a benchmark starts (test helpers' redis-servers and clusters,
 * `qscale` processes) is stopped when it ends, fails or is interrupted.
 */

/** Something that must be stopped, even when the benchmark fails or is interrupted. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Runs `body`, then stops everything it registered with `track`, whether `body` resolves, throws,
 * or the process is interrupted with SIGINT/SIGTERM.
 */
export async function withCleanup<T>(
  body: (track: <S extends Stoppable>(stoppable: S) => S) => Promise<T>,
): Promise<T> {
  const tracked: Stoppable[] = [];
  const stopAll = () =>
    Promise.allSettled(
      tracked
        .splice(0)
        .reverse()
        .map((s) => s.stop()),
    );
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping the benchmark's processes`);
    stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body((stoppable) => {
      tracked.push(stoppable);
      return stoppable;
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}
