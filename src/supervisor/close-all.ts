import type { Logger } from '../config/logger.js';

/** Runs every clean-up step in order, even when an earlier one fails; logs the failures. */
export async function closeAll(logger: Logger, steps: (() => Promise<unknown>)[]): Promise<void> {
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      logger.warn({ err: error }, 'clean-up step failed');
    }
  }
}
