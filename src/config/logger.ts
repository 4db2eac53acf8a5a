import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger } from 'pino';

/**
 * JSON logs on stdout (or `destination`), one line per event, with the role (`app`, `worker`, …)
 * on every line.
 */
export function createLogger(
  config: Pick<Config, 'logLevel'>,
  role: string,
  destination?: { write(chunk: string): unknown },
): Logger {
  const options = { level: config.logLevel, base: { role, pid: process.pid } };
  if (destination) return pino(options, destination as never);
  // Synchronous writes to stdout: pino's default (asynchronous) destination flushes on exit in a
  // loop that never ends when stdout is a broken pipe (a log reader gone), so a SIGTERM'd process
  // hung in process.exit(). Synchronous, a broken pipe only silences the logs (pino drops EPIPE).
  return pino(options, pino.destination({ dest: process.stdout.fd ?? 1, sync: true }));
}
