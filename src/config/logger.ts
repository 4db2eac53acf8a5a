import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { Config } from './config.js';

export type { Logger } from 'pino';

/** Readable log lines for a person at a terminal: time, level, `[role]`, message, then fields. */
function prettyLines(): (line: string) => string {
  return prettyFactory({
    colorize: true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,role',
    messageFormat: '[{role}] {msg}',
    singleLine: true,
  });
}

/**
 * Logs with the role (`app`, `worker`, …) on every line: JSON on stdout, one line per event — or,
 * when stdout is a terminal, readable lines (pino-pretty). `destination` takes them instead (the
 * status line of `qscale start`), pretty when `pretty` says so.
 */
export function createLogger(
  config: Pick<Config, 'logLevel'>,
  role: string,
  destination?: { write(chunk: string): unknown },
  pretty = destination === undefined && process.stdout.isTTY === true,
): Logger {
  const options = { level: config.logLevel, base: { role, pid: process.pid } };
  // Synchronous writes to stdout: pino's default (asynchronous) destination flushes on exit in a
  // loop that never ends when stdout is a broken pipe (a log reader gone), so a SIGTERM'd process
  // hung in process.exit(). Synchronous, a broken pipe only silences the logs (pino drops EPIPE).
  const out = destination ?? pino.destination({ dest: process.stdout.fd ?? 1, sync: true });
  if (!pretty) return pino(options, out as never);
  const format = prettyLines();
  return pino(options, { write: (chunk: string) => out.write(format(chunk)) } as never);
}
