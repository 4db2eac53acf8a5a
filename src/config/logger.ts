import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger } from 'pino';

/** JSON logs on stdout, one line per event, with the role (`app`, `worker`, …) on every line. */
export function createLogger(config: Pick<Config, 'logLevel'>, role: string): Logger {
  return pino({ level: config.logLevel, base: { role, pid: process.pid } });
}
