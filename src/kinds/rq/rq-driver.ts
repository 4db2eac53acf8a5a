import { workerTotals } from '../../queue/queue-snapshot.js';
import type { QueueKindDriver } from '../driver.js';
import { PollingWatch } from '../polling-watch.js';
import { parseRqAddress } from './rq-address.js';
import { discoverRqQueues } from './rq-discovery.js';
import { readRqFailures, rqFailuresSince } from './rq-failures.js';
import { CLEANABLE, RQ_JOB_STATES, RqJobs } from './rq-jobs.js';
import { RqReader } from './rq-reader.js';
import { SAMPLE_RQ_QUEUES } from './rq-sample.js';

/** Python RQ queues (RQ ≥ 1.13): `rq:<name>`, read-only from RQ's own keys. */
export const rqDriver = {
  kind: 'rq',
  addressSyntax: 'rq:<name>',
  nouns: {
    label: 'RQ',
    withArticle: 'an RQ',
    workersVerb: 'registered',
    active: 'started jobs (started registry)',
    where: () => 'RQ',
    backlog: (s) => `(len of rq:queue:${s.queue})`,
    jobs: (c) =>
      `started ${c.active}  scheduled ${c.delayed}  deferred ${c['waiting-children']}  finished ${c.completed}  failed ${c.failed}`,
    jobsCheck: (s) => {
      const c = s.counts;
      return {
        found:
          `${s.queue} (RQ)${s.paused ? ': workers are SUSPENDED;' : ':'} backlog ${s.backlog} ` +
          `(len of rq:queue:${s.queue}), started ${c.active}, scheduled ${c.delayed}, ` +
          `deferred ${c['waiting-children']}, finished ${c.completed}, failed ${c.failed}`,
        ...(s.paused && {
          fix: 'RQ workers are suspended (rq suspend): they take no job until `rq resume`',
        }),
        details: { counts: c, backlog: s.backlog, suspended: s.paused },
      };
    },
    whoCounts: () => ({ noun: 'RQ workers registered for the queue', source: 'rq' }),
    // RQ workers register in rq:workers:<queue>: they can always be counted.
    workersUnknown: () => ({
      found: 'the RQ workers of the queue could not be read',
      fix: 'check that the sidecar reads the RQ app’s own Redis (REDIS_URL)',
    }),
    startWorkers: (queue) =>
      `start RQ workers (rq worker ${queue}; in Kubernetes: kubectl -n <ns> get pods of the worker Deployment, and the autoscaler below)`,
    orphanedJobs:
      "start a worker: RQ's StartedJobRegistry cleanup moves an abandoned job to the failed registry once its timeout has passed (requeue it with rq requeue)",
  },
  parseAddress: (spec) => parseRqAddress(spec),
  formatAddress: (address) => `rq:${address.name}`,
  clusterProblem: (address) =>
    `"rq:${address.name}" is a Python RQ queue, and RQ does not run on Redis Cluster; watch it with a sidecar on the RQ app's own Redis`,
  discover: discoverRqQueues,
  sampleScript: { name: 'qscaleSampleRqQueues', lua: SAMPLE_RQ_QUEUES },
  createReader: (_redis, keys, options) => new RqReader(keys, options),
  // The registries keep finished jobs for their TTL: a read every scrape loses nothing.
  derivedNeedsRegularReads: false,
  countsMissedEvents: false,
  listsDerivedWorkers: true,
  readRecentFailures: readRqFailures,
  failuresSince: (redis, keys, since) => rqFailuresSince(redis, keys, since, 500),
  jobStates: RQ_JOB_STATES,
  cleanableStates: CLEANABLE,
  createJobs: (redis, keys) => new RqJobs(redis, keys),
  workerNames: (_redis, _keys, snapshot) =>
    Promise.resolve({
      count: workerTotals(snapshot).live,
      names: snapshot.workers.map((w) => w.id),
    }),
  // RQ publishes nothing when a job is added.
  watchMode: 'polling',
  watch: (_redis, _keys, { blockMs }) => new PollingWatch(blockMs),
} as const satisfies QueueKindDriver;
