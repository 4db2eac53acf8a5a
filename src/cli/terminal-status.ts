import type { Writable } from 'node:stream';
import type { Logger } from '../config/logger.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';
import { workerTotals } from '../queue/queue-snapshot.js';
import { desiredWorkers } from '../scaling/scaling-decision.js';
import type { SizingObjective } from '../scaling/worker-sizing.js';

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

  /**
   * Draws as many of `segments` as fit the terminal's width, in order (the first ones matter
   * most), so a narrow terminal shows whole numbers rather than a line cut mid-word.
   */
  showFitted(segments: string[]): void {
    const width = (this.out.columns ?? 120) - 1;
    let shown = segments.length;
    while (shown > 1 && segments.slice(0, shown).join('  ').length > width) shown--;
    this.show(segments.slice(0, shown).join('  '));
  }

  /** Refreshes from the shared signals every second until {@link close}. */
  follow(signals: ScalingSignals, queue: string, sizing: SizingObjective, logger: Logger): void {
    const refresh = async () => {
      try {
        const sample = await signals.read();
        const signal = signals.signal(sample, queue);
        if (!signal) return;
        const { snapshot, rates } = signal;
        const done = rates.finishedPerSecond;
        const live = workerTotals(snapshot).live;
        const desired = desiredWorkers(snapshot, rates, sizing);
        // Segments in order of importance: a narrow terminal drops the last ones whole.
        this.showFitted([
          `▶ backlog ${snapshot.backlog}`,
          `active ${snapshot.counts.active}`,
          `workers ${live}${desired !== live ? ` (${desired} wanted)` : ''}`,
          `done/s ${done === undefined ? '–' : done.toFixed(1)}`,
          `failed ${snapshot.counts.failed}`,
          `completed ${snapshot.counts.completed}`,
          queue,
        ]);
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
