import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';

/** Something running that stops with an idempotent `close()`. */
export interface Closable {
  close(): Promise<void>;
}

/**
 * What a process may take, beyond SHUTDOWN_TIMEOUT_SECONDS, to close its connections and servers
 * once a signal came; past it, the process exits anyway.
 */
const SHUTDOWN_MARGIN_MS = 5_000;

/**
 * The shutdown deadline of a command: SHUTDOWN_TIMEOUT_SECONDS plus the margin; a parent of worker
 * processes also waits for them to be killed.
 */
export function shutdownDeadlineMs(config: Config, parentOfWorkers = false): number {
  const own = config.worker.shutdownTimeoutSeconds * 1000 + SHUTDOWN_MARGIN_MS;
  return parentOfWorkers ? workerKillAfterMs(config) + SHUTDOWN_MARGIN_MS : own;
}

/**
 * How long a stopping worker process gets before its parent (`workers`, `start --autoscale`) kills
 * it: 2 s beyond its own deadline, so it normally exits by itself.
 */
export function workerKillAfterMs(config: Config): number {
  return shutdownDeadlineMs(config) + 2_000;
}

export interface LifecycleOptions {
  /**
   * The longest a shutdown may take, from the signal to the exit. Whatever is still closing then
   * (a Redis that does not answer, a disk that does not return a write) is abandoned and the process
   * exits with 1: SIGTERM always ends it.
   */
  deadlineMs: number;
}

/**
 * The running parts of one CLI command. On SIGTERM/SIGINT it waits for a part still starting (so
 * nothing it already announced — a heartbeat, a listening port — is left behind), closes every part
 * in reverse order, and exits 0; a second signal, or a shutdown past its deadline, exits at once
 * with 1.
 */
export class Lifecycle {
  private readonly logger: Logger;
  private readonly parts: Closable[] = [];
  private starting: Promise<unknown> = Promise.resolve();
  private stopping?: Promise<void>;

  constructor(logger: Logger, options: LifecycleOptions) {
    this.logger = logger;
    const onSignal = (signal: NodeJS.Signals | 'parent gone') => {
      // Already draining (the parent's SIGTERM came first): its exit changes nothing.
      if (this.stopping && signal === 'parent gone') return;
      if (this.stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      logger.info({ signal, deadlineMs: options.deadlineMs }, 'shutting down');
      setTimeout(() => {
        logger.error(
          { deadlineMs: options.deadlineMs },
          'shutdown did not finish by its deadline (Redis or the disk not answering?): exiting now',
        );
        process.exit(1);
      }, options.deadlineMs).unref();
      this.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // A child of `qscale start --autoscale` / `qscale workers` has an IPC channel to its parent:
    // when the parent goes, however it died (SIGKILL included), the channel closes and the child
    // shuts down like on SIGTERM instead of working on as an orphan.
    if (typeof process.send === 'function') {
      if (!process.connected) {
        // The parent went before this process got here.
        setImmediate(() => onSignal('parent gone'));
      } else {
        process.channel?.unref();
        process.once('disconnect', () => onSignal('parent gone'));
      }
    }
  }

  /** Starts a part and keeps it for {@link stop}. */
  async start<T extends Closable>(run: () => Promise<T>): Promise<T> {
    const started = run();
    this.starting = started.catch(() => undefined);
    const part = await started;
    this.parts.push(part);
    return part;
  }

  /** Closes every part started so far, last first; each close runs even if another failed. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting;
      for (const part of this.parts.splice(0).reverse()) {
        await part
          .close()
          .catch((error: unknown) => this.logger.error({ err: error }, 'stop failed'));
      }
    })();
    return this.stopping;
  }
}
