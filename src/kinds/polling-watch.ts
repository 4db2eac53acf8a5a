import type { QueueWatch } from './driver.js';

/** For a kind that publishes nothing when a job is added: wakes every `blockMs`. */
export class PollingWatch implements QueueWatch {
  private timer?: NodeJS.Timeout;
  private wake?: () => void;
  private closed = false;

  constructor(private readonly blockMs: number) {}

  ready(): Promise<void> {
    return Promise.resolve();
  }

  next(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, this.blockMs);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.wake?.();
    return Promise.resolve();
  }
}
