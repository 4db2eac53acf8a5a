import type { QueueKind } from '../kinds/queue-kind.js';

/** The histograms workers keep per queue. */
export type TelemetryHistogram = 'processing:completed' | 'processing:failed' | 'wait';

/**
 * The Redis key layout of one queue. BullMQ's own keys are `<prefix>:<queue>:<type>`; qscale keeps
 * its records under `<prefix>:<queue>:qscale:…` so that with a hash-tag prefix such as `{bull}` every
 * key of a queue lands in one Redis Cluster slot. Job ids are UUIDs, so they never collide with the
 * `qscale:` namespace.
 */
export class QueueKeys {
  readonly prefix: string;
  readonly queue: string;
  /** `rq` for a Python RQ queue: only {@link rq} keys apply to it. */
  readonly kind: QueueKind;
  private readonly base: string;

  constructor(prefix: string, queue: string, kind: QueueKind = 'bullmq') {
    this.prefix = prefix;
    this.queue = queue;
    this.kind = kind;
    this.base = `${prefix}:${queue}`;
  }

  /**
   * A key of a Python RQ queue (RQ ≥ 1.13): `queue` (the list of waiting job ids), `wip` (started
   * registry), `finished`, `failed`, `deferred`, `scheduled`, `canceled` (registries scored by
   * expiry or due time), `workers` (the set of worker keys listening on this queue).
   */
  rq(
    type:
      'queue' | 'wip' | 'finished' | 'failed' | 'deferred' | 'scheduled' | 'canceled' | 'workers',
  ): string {
    return `${this.prefix}:${type}:${this.queue}`;
  }

  /** A BullMQ key of this queue: `wait`, `active`, `meta`, `events`, … */
  bull(type: string): string {
    return `${this.base}:${type}`;
  }

  /** Hash: one uploaded file's record. */
  file(fileId: string): string {
    return `${this.base}:qscale:file:${fileId}`;
  }

  /** List: the text of a file's chunks, in order. */
  chunks(fileId: string): string {
    return `${this.base}:qscale:file:${fileId}:chunks`;
  }

  /** String: a file's chunk vectors, packed little-endian float32, one after another. */
  vectors(fileId: string): string {
    return `${this.base}:qscale:file:${fileId}:vectors`;
  }

  /** Sorted set: ids of confirmed files, scored by upload time (ms). */
  files(): string {
    return `${this.base}:qscale:files`;
  }

  /**
   * String: epoch ms up to which an operator acknowledged this queue's failures (`qscale jobs
   * ack-failures`); `qscale doctor` warns only about failures after it.
   */
  failuresAcknowledged(): string {
    return `${this.base}:qscale:failures:acknowledged`;
  }

  /**
   * Stream: the sidecar's history of this queue's numbers at one resolution (`5s`, `1m`), capped
   * by MAXLEN; `…:step` is the short lease that lets one sidecar replica write each step.
   */
  history(tier: string): string {
    return `${this.base}:qscale:history:${tier}`;
  }

  /**
   * Hash: what the upload API has stored for this queue. `blobBytes`: the bytes of the blobs of the
   * files in {@link files}, kept by the scripts that confirm and delete files (absent: 0). Files
   * confirmed before a qscale version that kept it are not counted.
   */
  storage(): string {
    return `${this.base}:qscale:storage`;
  }

  /** Sorted set: live workers' ids, scored by when their heartbeat expires (epoch ms). */
  workers(): string {
    return `${this.base}:qscale:workers`;
  }

  /**
   * Sorted set: the same ids as {@link workers}, scored by when each worker process started (epoch
   * ms). Gives the per-worker series a stable order: the longest-running live workers come first.
   */
  workersByStart(): string {
    return `${this.base}:qscale:workers:started`;
  }

  /**
   * Hash: each id of {@link workers} → what that worker last added to {@link workerTotals}, as
   * `<instance>,<concurrency>,<busy slots>,<utilization × concurrency>`. Entries never expire on
   * their own: they leave together with the id (clean stop, or a peer reaping an expired id), and
   * whoever removes one subtracts it from the totals, so a worker killed with SIGKILL is subtracted
   * exactly once, however late the reaper comes.
   */
  workerContributions(): string {
    return `${this.base}:qscale:workers:contributions`;
  }

  /**
   * Hash: sums over the live workers, kept by the workers themselves so that reading them costs
   * the same for 1 worker as for 10 000. Gauges (`concurrency`, `busy`, `busyWorkers`,
   * `utilizedSlots`: Σ utilization × concurrency) are the sum of {@link workerContributions};
   * the job counters (`completed`, `failed`) only ever grow, and keep what workers that left had
   * counted. `sweep:*` fields hold the cursors of the workers' orphan sweep.
   */
  workerTotals(): string {
    return `${this.base}:qscale:workers:totals`;
  }

  /** Hash: one worker's telemetry (concurrency, busy slots, cumulative counters); expires. */
  worker(workerId: string): string {
    return `${this.base}:qscale:worker:${workerId}`;
  }

  /** Prefix of {@link worker} keys, for scripts that build them from ids. */
  workerPrefix(): string {
    return `${this.base}:qscale:worker:`;
  }

  /**
   * Hash: a cumulative histogram kept by the workers: `count`, `sum` (seconds) and one field per
   * bucket, `le:<upper bound>` (not cumulative; `le:+Inf` for the rest).
   */
  histogram(name: TelemetryHistogram): string {
    return `${this.base}:qscale:histogram:${name}`;
  }

  /** String: the stored answer of an upload request, by the sha256 of its Idempotency-Key. */
  idempotency(keyHash: string): string {
    return `${this.base}:qscale:idempotency:${keyHash}`;
  }
}
