import { readFileSync } from 'node:fs';
import { batchScript } from '../batch-script.js';
import { CeleryKeys, UNACKED_INDEX_KEY, UNACKED_KEY } from './celery-keys.js';

/** The body of the sampling script (`sample-celery-queue.lua`, beside this file). */
const SAMPLE_BODY = readFileSync(new URL('./sample-celery-queue.lua', import.meta.url), 'utf8');

/** What `unacked` said, shared by the queues of one run: it is read and parsed once per run. */
const UNACKED_ONCE_PER_RUN = 'local celeryUnacked = {}';

/** The sampling script for one queue. */
export const SAMPLE_CELERY_QUEUE = `${UNACKED_ONCE_PER_RUN}\n${SAMPLE_BODY}`;

/** Keys and args of one queue in {@link SAMPLE_CELERY_QUEUES}: 10 lists, unacked and its index. */
export const CELERY_SAMPLE_KEYS = 12;
export const CELERY_SAMPLE_ARGS = 3;

/** {@link SAMPLE_CELERY_QUEUE} for many queues in one run (see `batchScript`). */
export const SAMPLE_CELERY_QUEUES = batchScript(
  UNACKED_ONCE_PER_RUN,
  SAMPLE_BODY.replace(/KEYS\[i\]/g, 'KEYS[k + i]'),
  CELERY_SAMPLE_KEYS,
  CELERY_SAMPLE_ARGS,
);

/** Held (unacknowledged) messages one sample reads at most: `unacked` is shared by every queue. */
export const MAX_UNACKED_READ = 2000;

/** The script's reply. */
export type CelerySampleReply = [number[], string[], number[], [string, string][]];

/** The keys and arguments of one run of the script, keys named (see the script's header). */
export function celerySampleArgs(
  keys: CeleryKeys,
  maxUnacked = MAX_UNACKED_READ,
): { keys: string[]; args: (string | number)[] } {
  const named: [string, string][] = [
    ...keys.lists().map((key, step): [string, string] => [`list${step}`, key]),
    ['unacked', UNACKED_KEY],
    ['unackedIndex', UNACKED_INDEX_KEY],
  ];
  return {
    keys: named.map(([, key]) => key),
    args: [JSON.stringify(named.map(([name]) => name)), keys.queue, maxUnacked],
  };
}

/** One held message of the queue: prefetched by a worker, or running under `task_acks_late`. */
export interface CeleryHeldMessage {
  id: string;
  /** Whether it has an ETA or countdown: the worker holds it until it is due. */
  eta: boolean;
}

/** What one run of the script read of a queue. */
export interface CelerySample {
  /** Messages in the queue's list (priority 0). */
  waiting: number;
  /** Messages in the lists of priority steps 1 to 9. */
  prioritized: number;
  /** Task ids at the lists' tails (the oldest message of each non-empty list). */
  tailIds: string[];
  /** Held messages of this queue among those read (see {@link unackedComplete}). */
  held: CeleryHeldMessage[];
  /** Entries of `unacked` (every queue's). */
  unackedTotal: number;
  /** False when `unacked` held more entries than one sample reads: `held` is a lower bound. */
  unackedComplete: boolean;
}

export function parseCelerySample(reply: CelerySampleReply): CelerySample {
  const [lengths, tails, [total, read], held] = reply;
  const counts = lengths.map(Number);
  return {
    waiting: counts[0] ?? 0,
    prioritized: counts.slice(1).reduce((sum, n) => sum + n, 0),
    tailIds: tails.filter((id) => id !== ''),
    held: held.map(([id, eta]) => ({ id, eta: eta === '1' })),
    unackedTotal: Number(total),
    unackedComplete: Number(read) >= Number(total),
  };
}
