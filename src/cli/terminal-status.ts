import type { Writable } from 'node:stream';
import type { Logger } from '../config/logger.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';
import { workerTotals } from '../queue/queue-snapshot.js';
import { desiredWorkers } from '../scaling/scaling-decision.js';

/**
 * One status line at the bottom of a terminal, refreshed in place every second:
 * backlog, jobs done per second, workers live / desired. Log lines written through {@link log}
 * appear above it (the line is cleared, the log written, the line drawn again).
 */
export class TerminalStatus {
  private readonly out: Writable & { columns?: number };
  private line = '';
  private timer?: NodeJS.Timeout;

  constructor(out: Writable & { columns?: number }) {
    this.out = out;
  }

  /** A pino destination: each log line goes above the status line. */
  readonly log = {
    write: (chunk: string) => {
      this.out.write(`\r\x1b[2K${chunk}`);
      if (this.line) this.out.write(this.line);
      return true;
    },
  };

  /** Redraws the status line with `text` (cut to the terminal width). */
  show(text: string): void {
    const width = this.out.columns ?? 120;
    this.line = text.length > width - 1 ? `${text.slice(0, width - 2)}…` : text;
    this.out.write(`\r\x1b[2K${this.line}`);
  }

  /** Refreshes from the shared signals every second until {@link close}. */
  follow(signals: ScalingSignals, queue: string, drainSeconds: number, logger: Logger): void {
    const refresh = async () => {
      try {
        const sample = await signals.read();
        const signal = signals.signal(sample, queue);
        if (!signal) return;
        const { snapshot, rates } = signal;
        const done = rates.finishedPerSecond;
        this.show(
          `▶ ${queue}  backlog ${snapshot.backlog}  active ${snapshot.counts.active}  ` +
            `done/s ${done === undefined ? '–' : done.toFixed(1)}  ` +
            `workers ${workerTotals(snapshot).live}/${desiredWorkers(snapshot, rates, { drainSeconds })}  ` +
            `completed ${snapshot.counts.completed}  failed ${snapshot.counts.failed}`,
        );
      } catch (error) {
        this.show(`▶ ${queue}  Redis unavailable: ${(error as Error).message}`);
        logger.debug({ err: error }, 'status line could not read Redis');
      }
    };
    void refresh();
    this.timer = setInterval(() => void refresh(), 1000);
    this.timer.unref();
  }

  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.line) this.out.write('\r\x1b[2K');
    this.line = '';
    return Promise.resolve();
  }
}
