import type { RecentFailure } from '../queue/recent-failures.js';
import type { QueueJobs } from '../queue/queue-jobs.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import type { QueueSnapshot } from '../queue/queue-snapshot.js';
import type { RedisClient } from '../redis/redis-connection.js';
import type { QueueAddress, QueueKind, QueuePattern } from './queue-kind.js';

/** What a driver's reader needs of the sampler's options (checked by the sampler). */
export interface ReaderOptions {
  /** Live workers read one by one per queue, at most. */
  maxWorkers: number;
  /** Bucket bounds (seconds) of derived histograms. */
  buckets: readonly number[];
  /** Window of derived utilization, in ms. */
  utilizationWindowMs: number;
  /** How long a costly worker list (CLIENT LIST) is reused, in ms. */
  workerListTtlMs: number;
}

/**
 * Reads one queue for the sampler. It lives as long as the sampler and keeps what it needs
 * between samples (event cursors, derived histograms, change counters), so that a sample reads
 * only what changed where the data allows it.
 */
export interface QueueReader {
  /**
   * This queue's share of its kind's sampling script ({@link QueueKindDriver.sampleScript}): its
   * keys and args, as many of each as every queue of the kind passes.
   */
  args(now: number): { keys: string[]; args: (string | number)[] };
  /** The args the script takes once for a whole batch (the same for every reader of a kind). */
  sharedArgs?(now: number): (string | number)[];
  /** Turns the script's reply for this queue into the common snapshot (it may take bounded follow-up reads). */
  decode(reply: unknown, now: number): Promise<QueueSnapshot> | QueueSnapshot;
  /** Releases what the reader holds (a pub/sub connection, say). Idempotent. */
  close?(): Promise<void>;
}

/**
 * Wakes a watcher (KEDA's `StreamIsActive`) when a queue may have changed: a blocking read of an
 * events stream, a pub/sub subscription, or a plain timer.
 */
export interface QueueWatch {
  /** Resolves once the watch listens (subscribed, or its first stream position read). */
  ready(): Promise<void>;
  /** Resolves when the queue may have changed, or after `blockMs` at the latest. */
  next(): Promise<void>;
  /** Stops listening and releases the connection. Idempotent. */
  close(): Promise<void>;
}

/** How {@link QueueKindDriver.watch} learns of changes. */
export type WatchMode = 'events-stream' | 'pub-sub' | 'polling';

/** Failed jobs since a moment, for `qscale doctor`. */
export interface FailuresSince {
  /** How many failed since then (not acknowledged). */
  count: number;
  /** At least `count`: only the newest ones were read. */
  approximate: boolean;
  /** The error messages of the newest of them, at most 100. */
  messages: string[];
  /** What to do about them. */
  fix: string;
  /**
   * For a kind that keeps no failed jobs in Redis (Celery: only its events tell): the moment
   * (epoch ms) since which failures were heard. Later than the asked moment, earlier failures are
   * unknown, not absent.
   */
  heardSince?: number;
}

/** Live workers as the library counts them; `count: null` when they cannot be counted. */
export type WorkerNames = { count: number; names: string[] } | { count: null; error: string };

/** The words the page, `status` and `doctor` use for a kind of queue. */
export interface KindNouns {
  /** 'BullMQ', 'RQ'. */
  label: string;
  /** 'a BullMQ', 'an RQ'. */
  withArticle: string;
  /** How its workers are counted: 'connected', 'registered'. */
  workersVerb: string;
  /** What its `active` count is: 'active jobs', 'started jobs (started registry)'. */
  active: string;
  /** Where a queue of this kind lives, for `status`: 'BullMQ, prefix bull', 'RQ'. */
  where(address: QueueAddress): string;
  /** What the backlog is, for `status`: `(len of rq:queue:x)`, `(wait …, paused …)`. */
  backlog(snapshot: Pick<QueueSnapshot, 'queue' | 'counts' | 'delayedDue'>): string;
  /** The job counts other than the backlog, for `status`: `active 1  delayed 0  …`. */
  jobs(counts: QueueSnapshot['counts']): string;
  /** `doctor`'s check of the queue's job counts: what it found, how to fix a paused queue. */
  jobsCheck(snapshot: QueueSnapshot): {
    found: string;
    fix?: string;
    details: Record<string, unknown>;
  };
  /** How the live workers were counted, for `doctor`: `{ noun, source }`. */
  whoCounts(snapshot: QueueSnapshot): { noun: string; source: string };
  /**
   * What `doctor` says when derived telemetry cannot count the live workers
   * (`derived.workersKnown` false), and how to fix it.
   */
  workersUnknown(snapshot: QueueSnapshot): { found: string; fix: string };
  /**
   * Why the console's actions this kind does not support are impossible, appended to their
   * refusal (Celery: a message in a list has no state to act on); undefined when nothing to add.
   */
  refusedActions?: string;
  /** How to start workers for the queue, for `doctor`. */
  startWorkers(queue: string): string;
  /** What happens to the jobs of a worker that died, for `doctor`. */
  orphanedJobs: string;
  /**
   * Why stuck workers cannot be told for derived telemetry, when they cannot (BullMQ workers
   * without telemetry do not say which job each one runs); undefined when they can.
   */
  stuckUnmeasured?: string;
}

/**
 * One queue kind: everything qscale does with a queue that depends on the library that owns it.
 * Code outside `src/kinds/<kind>/` asks the driver and never branches on the kind.
 */
export interface QueueKindDriver {
  readonly kind: QueueKind;
  readonly nouns: KindNouns;
  /** What QUEUES accepts for this kind, for error messages: `rq:<name>`. */
  readonly addressSyntax: string;
  /**
   * Parses a QUEUES entry of this kind: the text after `<kind>:`, or (`plain`, for the default
   * kind only) a whole entry without `<kind>:`. A name with `*` or `?` is a pattern. Returns what
   * is wrong as a string when the entry is not valid.
   */
  parseAddress(
    spec: string,
    defaultPrefix: string,
    plain: boolean,
  ): QueueAddress | QueuePattern | string;
  /** The entry QUEUES would name this queue with. */
  formatAddress(address: QueueAddress): string;
  /**
   * Whether the library runs on Redis Cluster with this prefix; a string says why not (or what
   * to change), for the config error.
   */
  clusterProblem(address: QueueAddress, defaultPrefix: string): string | undefined;
  /** The names of the queues that exist now and match the pattern (read-only, bounded scans). */
  discover(redis: RedisClient, pattern: QueuePattern, limit: number): Promise<string[]>;
  /**
   * The script that samples many queues of this kind in one run (`batchScript`): the sampler sends
   * one per batch of queues (per Cluster slot), all in one pipeline: one round trip per node.
   */
  readonly sampleScript: { readonly name: string; readonly lua: string };
  /** A reader of one queue for the sampler. */
  createReader(redis: RedisClient, keys: QueueKeys, options: ReaderOptions): QueueReader;
  /**
   * Whether a queue read from derived telemetry needs background reads between scrapes (BullMQ:
   * its events stream is trimmed, so unread events are lost).
   */
  readonly derivedNeedsRegularReads: boolean;
  /** Whether `derived.eventsMissed` means anything for this kind (an events stream that trims). */
  readonly countsMissedEvents: boolean;
  /**
   * Whether derived telemetry still lists live workers one by one (RQ: each worker's hash), so
   * `status` shows them as for instrumented workers.
   */
  readonly listsDerivedWorkers: boolean;
  /** The latest `limit` failed jobs, newest first. */
  readRecentFailures(redis: RedisClient, keys: QueueKeys, limit: number): Promise<RecentFailure[]>;
  /** Failures since `since` (epoch ms), for `doctor`. */
  failuresSince(redis: RedisClient, keys: QueueKeys, since: number): Promise<FailuresSince>;
  /**
   * Stalled-job recoveries in the last hour when the library records them (BullMQ's `stalled`
   * events); undefined when it does not.
   */
  stalledSince?(redis: RedisClient, keys: QueueKeys, since: number): Promise<number>;
  /** The job states a console lists, in order (`reserved` may be one, for a kind that has it). */
  readonly jobStates: readonly string[];
  /** The states the console's `clean` may empty, in the order it offers them. */
  readonly cleanableStates: readonly string[];
  /** The console's job operations on one queue. */
  createJobs(redis: RedisClient, keys: QueueKeys): QueueJobs;
  /** The live workers and their names, for `status` (BullMQ: CLIENT LIST). */
  workerNames(redis: RedisClient, keys: QueueKeys, snapshot: QueueSnapshot): Promise<WorkerNames>;
  readonly watchMode: WatchMode;
  /** A watch of one queue on its own connection (see {@link QueueWatch}). */
  watch(redis: RedisClient, keys: QueueKeys, options: { blockMs: number }): QueueWatch;
}
