import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import type { Config } from '../config/config.js';
import { toWorkerIdCharacters } from '../config/worker-id.js';

/** Flags of the parent's Node that must not be passed on (two processes cannot share a debugger port). */
const NOT_INHERITED = /^--inspect/;

/**
 * Starts `qscale worker` with the Node, loader flags (tsx under development) and entry script of
 * the running process, so it works from dist/ and from source alike. The settings a CLI flag may
 * have overridden in the parent are passed explicitly; the worker's logs go to the parent's.
 */
export function spawnWorkerProcess(config: Config, workerId: string): ChildProcess {
  const entry = process.argv[1];
  if (!entry) throw new Error('cannot start workers: the entry script of this process is unknown');
  const execArgv = process.execArgv.filter((arg) => !NOT_INHERITED.test(arg));
  return spawn(process.execPath, [...execArgv, entry, 'worker'], {
    env: {
      ...process.env,
      WORKER_ID: workerId,
      // `qscale start` may run a private Redis the children could not find on their own.
      ...(config.redis.url !== undefined && { REDIS_URL: config.redis.url }),
      QUEUE_NAME: config.queue.name,
      QUEUE_PREFIX: config.queue.prefix,
      UPLOAD_DIR: config.http.uploadDir,
      WORKER_CONCURRENCY: String(config.worker.concurrency),
      LOG_LEVEL: config.logLevel,
    },
    // The IPC channel only tells the child when this process is gone (see Lifecycle).
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // A process group of its own: a Ctrl-C in the terminal reaches this process only, which then
    // stops the children with one SIGTERM each, so they drain their jobs (a second signal would
    // make them exit at once). Its parent's death still reaches it through the IPC channel.
    detached: true,
  });
}

/** `<hostname>-auto`, reduced to what WORKER_ID allows. */
export function defaultIdPrefix(): string {
  return `${toWorkerIdCharacters(hostname()).slice(0, 100)}-auto`;
}
