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
  return destination ? pino(options, destination as never) : pino(options);
}
