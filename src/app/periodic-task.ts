/**
 * Runs `run` now, then `intervalMs` after each run ends, until {@link close}; a failed run goes
 * to `onError` and the next one runs on time. The timer does not keep the process alive.
 */
export class PeriodicTask {
  private readonly run: () => Promise<unknown>;
  private readonly intervalMs: number;
  private readonly onError: (error: unknown) => void;
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  /** True once closed: a run in progress should stop at its next step. */
  closed = false;
  private readonly aborter = new AbortController();
  /** Aborted on close: a run's waits end with it. */
  readonly signal: AbortSignal = this.aborter.signal;

  constructor(run: () => Promise<unknown>, intervalMs: number, onError: (error: unknown) => void) {
    this.run = run;
    this.intervalMs = intervalMs;
    this.onError = onError;
  }

  start(): this {
    const tick = () => {
      if (this.closed) return;
      this.running = this.run()
        .catch(this.onError)
        .finally(() => {
          this.running = undefined;
          if (!this.closed) this.timer = setTimeout(tick, this.intervalMs).unref();
        });
    };
    tick();
    return this;
  }

  /** Stops; a run in progress is waited for. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.aborter.abort();
    clearTimeout(this.timer);
    await this.running;
  }
}
