import type { QueueKindDriver } from '../driver.js';
import { bullmqClusterProblem, formatBullmqAddress, parseBullmqAddress } from './bullmq-address.js';
import { discoverBullmqQueues } from './bullmq-discovery.js';
import { bullmqFailuresSince, readBullmqFailures } from './bullmq-failures.js';
import { BULLMQ_JOB_STATES, BullmqJobs, CLEANABLE } from './bullmq-jobs.js';
import { BullmqReader } from './bullmq-reader.js';
import { SAMPLE_QUEUES } from './bullmq-sample.js';
import { bullmqStalledSince } from './bullmq-stalled.js';
import { BullmqWatch } from './bullmq-watch.js';
import { connectedBullmqWorkers } from './bullmq-workers.js';

/** BullMQ queues: `bullmq:<prefix>/<name>`, or a plain name under QUEUE_PREFIX. */
export const bullmqDriver = {
  kind: 'bullmq',
  addressSyntax: 'bullmq:<prefix>/<name>',
  nouns: {
    label: 'BullMQ',
    withArticle: 'a BullMQ',
    workersVerb: 'connected',
    active: 'active jobs',
    where: (address) => `BullMQ, prefix ${address.prefix}`,
    backlog: (s) =>
      `(wait ${s.counts.wait}, paused ${s.counts.paused}, prioritized ${s.counts.prioritized}, delayed due ${s.delayedDue})`,
    jobs: (c) =>
      `active ${c.active}  delayed ${c.delayed}  waiting-children ${c['waiting-children']}  completed ${c.completed}  failed ${c.failed}`,
    jobsCheck: (s) => {
      const c = s.counts;
      return {
        found:
          `${s.queue}${s.paused ? ' is PAUSED;' : ':'} backlog ${s.backlog} ` +
          `(wait ${c.wait}, paused ${c.paused}, prioritized ${c.prioritized}, delayed due ${s.delayedDue}), ` +
          `active ${c.active}, delayed ${c.delayed}, completed ${c.completed}, failed ${c.failed}`,
        ...(s.paused && {
          fix: 'the queue is paused: no worker takes jobs until it is resumed (BullMQ queue.resume())',
        }),
        details: { counts: c, backlog: s.backlog, paused: s.paused },
      };
    },
    whoCounts: (s) =>
      s.telemetry === 'derived'
        ? {
            noun: 'BullMQ workers connected (CLIENT LIST), without qscale telemetry: busy slots, utilization and processing times are derived',
            source: 'bullmq',
          }
        : { noun: 'workers with a live qscale heartbeat', source: 'qscale' },
    workersUnknown: () => ({
      found:
        'the workers send no qscale telemetry and Redis refuses CLIENT LIST, so live workers cannot be counted',
      fix: "allow CLIENT LIST for the sidecar's Redis user (ACL +client|list), or add qscale telemetry to the workers: instrumentWorker(worker)",
    }),
    startWorkers: () =>
      'start workers (qscale worker; in Kubernetes: kubectl -n <ns> get pods -l app.kubernetes.io/component=worker, and the autoscaler below)',
    orphanedJobs:
      'start a worker: BullMQ hands a dead worker’s jobs to a live one once their lock (JOB_LOCK_MS) has expired',
    stuckUnmeasured:
      'not measured: BullMQ workers without qscale telemetry do not say which job each one runs',
  },
  parseAddress: parseBullmqAddress,
  formatAddress: formatBullmqAddress,
  clusterProblem: bullmqClusterProblem,
  discover: discoverBullmqQueues,
  sampleScript: { name: 'qscaleSampleQueues', lua: SAMPLE_QUEUES },
  createReader: (redis, keys, options) => new BullmqReader(redis, keys, options),
  derivedNeedsRegularReads: true,
  countsMissedEvents: true,
  listsDerivedWorkers: false,
  readRecentFailures: (redis, keys, limit) => readBullmqFailures(redis, keys, limit),
  failuresSince: (redis, keys, since) => bullmqFailuresSince(redis, keys, since, 500),
  stalledSince: bullmqStalledSince,
  jobStates: BULLMQ_JOB_STATES,
  cleanableStates: CLEANABLE,
  createJobs: (redis, keys) => new BullmqJobs(redis, keys),
  workerNames: (redis, keys) => connectedBullmqWorkers(redis, keys),
  watchMode: 'events-stream',
  watch: (redis, keys, { blockMs }) => new BullmqWatch(redis, keys, blockMs),
} as const satisfies QueueKindDriver;
