import { workerTotals } from '../../queue/queue-snapshot.js';
import type { QueueKindDriver } from '../driver.js';
import { parseCeleryAddress } from './celery-address.js';
import { discoverCeleryQueues } from './celery-discovery.js';
import { celeryEventsOf } from './celery-events-hub.js';
import { CELERY_ACTIONS_REFUSED, CELERY_JOB_STATES, CeleryJobs } from './celery-jobs.js';
import { CeleryReader } from './celery-reader.js';
import { SAMPLE_CELERY_QUEUES } from './celery-sample.js';
import { CeleryWatch } from './celery-watch.js';

const EVENTS_FIX =
  'start the Celery workers with -E (celery -A <app> worker -E -Q <queue>) or set worker_send_task_events=True, and set task_send_sent_event=True in the app that sends tasks (for wait times and to tell each task’s queue)';

/**
 * Celery queues on kombu's Redis transport (Celery ≥ 5.2): `celery:<queue>`, read-only from the
 * queue's lists and kombu's `unacked` hash, and from Celery's events (pub/sub) for worker numbers.
 */
export const celeryDriver = {
  kind: 'celery',
  addressSyntax: 'celery:<queue>',
  nouns: {
    label: 'Celery',
    withArticle: 'a Celery',
    workersVerb: 'seen in events',
    active: 'messages held by workers (prefetched, or running) and running tasks',
    where: () => 'Celery (kombu Redis transport)',
    backlog: (s) =>
      `(list ${s.counts.wait}, priority lists ${s.counts.prioritized}: what len(queue) answers)`,
    jobs: (c) =>
      `held/running ${c.active}  eta/countdown ${c.delayed}  succeeded ${c.completed}  failed ${c.failed} (since the sidecar started)`,
    jobsCheck: (s) => {
      const c = s.counts;
      return {
        found:
          `${s.queue} (Celery): backlog ${s.backlog} (list ${c.wait}, priority lists ${c.prioritized}), ` +
          `held by workers or running ${c.active}, waiting for their ETA ${c.delayed}; ` +
          `succeeded ${c.completed}, failed ${c.failed} since the sidecar started (from events)`,
        details: { counts: c, backlog: s.backlog },
      };
    },
    whoCounts: () => ({
      noun: 'Celery workers that ran tasks of this queue, alive by their heartbeats (events)',
      source: 'celery-events',
    }),
    workersUnknown: () => ({
      found:
        'no Celery task events seen: without them the sidecar cannot tell which workers serve this queue, so live workers, busy slots and processed tasks are unknown (a one-shot doctor only hears events while it runs)',
      fix: EVENTS_FIX,
    }),
    refusedActions: CELERY_ACTIONS_REFUSED,
    startWorkers: (queue) =>
      `start Celery workers for the queue (celery -A <app> worker -E -Q ${queue}; in Kubernetes: the worker Deployment, and the autoscaler below)`,
    orphanedJobs:
      "start a worker: kombu puts a dead worker's held messages back in the queue once their visibility_timeout (1 h by default) has passed",
    stuckUnmeasured: undefined,
  },
  parseAddress: (spec) => parseCeleryAddress(spec),
  formatAddress: (address) => `celery:${address.name}`,
  clusterProblem: (address) =>
    `"celery:${address.name}" is a Celery queue: kombu's Redis transport does not run on Redis Cluster (the queue's list and the shared unacked hash are in different slots); watch it with a sidecar on the Celery broker's own Redis`,
  discover: discoverCeleryQueues,
  sampleScript: { name: 'qscaleSampleCeleryQueues', lua: SAMPLE_CELERY_QUEUES },
  createReader: (redis, keys, options) => new CeleryReader(redis, keys, options),
  // The events are gathered by a subscription between samples: reads can come whenever.
  derivedNeedsRegularReads: false,
  countsMissedEvents: false,
  listsDerivedWorkers: true,
  readRecentFailures: (redis, keys, limit) =>
    Promise.resolve(
      (celeryEventsOf(redis)?.failures(keys.queue, limit) ?? []).map((f) => ({
        ...f,
        fileName: null,
      })),
    ),
  failuresSince: (redis, keys, since) => {
    const events = celeryEventsOf(redis);
    const recent = (events?.failures(keys.queue, 100) ?? []).filter((f) => f.failedAt >= since);
    return Promise.resolve({
      heardSince: events?.heardSince ?? Date.now(),
      count: recent.length,
      approximate: recent.length === 100,
      messages: recent.map((f) => f.error ?? 'no message'),
      fix: 'read the tracebacks in the worker logs (or the result backend); Celery keeps no failed tasks in the broker, so the sidecar knows only the task-failed events it heard',
    });
  },
  jobStates: CELERY_JOB_STATES,
  cleanableStates: CELERY_JOB_STATES,
  createJobs: (redis, keys) => new CeleryJobs(redis, keys.queue),
  workerNames: (_redis, _keys, snapshot) =>
    Promise.resolve(
      snapshot.derived?.workersKnown === false
        ? { count: null, error: 'no Celery task events seen (workers need -E)' }
        : { count: workerTotals(snapshot).live, names: snapshot.workers.map((w) => w.id) },
    ),
  watchMode: 'pub-sub',
  watch: (redis, _keys, { blockMs }) => new CeleryWatch(redis, blockMs),
} as const satisfies QueueKindDriver;
