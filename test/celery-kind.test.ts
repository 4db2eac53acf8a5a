import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUCKETS } from '../src/config/config.js';
import { CeleryEventListener } from '../src/kinds/celery/celery-event-listener.js';
import { CeleryEventState } from '../src/kinds/celery/celery-event-state.js';
import { CeleryJobs } from '../src/kinds/celery/celery-jobs.js';
import { discoverCeleryQueues } from '../src/kinds/celery/celery-discovery.js';
import { CeleryKeys } from '../src/kinds/celery/celery-keys.js';
import { CeleryWatch } from '../src/kinds/celery/celery-watch.js';
import {
  celerySampleArgs,
  SAMPLE_CELERY_QUEUE,
  SAMPLE_CELERY_QUEUES,
  type CelerySampleReply,
} from '../src/kinds/celery/celery-sample.js';
import { celerySnapshot, CeleryQueueState } from '../src/kinds/celery/celery-snapshot.js';
import type { QueueSnapshot } from '../src/queue/queue-snapshot.js';
import { celeryLen, celerySend, CeleryWorker } from '../harness/celery.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { uniqueQueueName } from '../harness/test-queue.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads `read()` every 100 ms until `check` holds, for at most `ms`. */
async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, ms = 15_000) {
  const deadline = Date.now() + ms;
  let last = await read();
  while (!check(last)) {
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(last)}`);
    await sleep(100);
    last = await read();
  }
  return last;
}

/**
 * The Celery kind's parts against real Celery workers (Debian's python3-celery, kombu's Redis
 * transport): the sampling script, the events listener and the snapshot they make.
 */
describe('the Celery queue kind', () => {
  let redis: TestRedisServer;
  let client: Redis;
  let events: CeleryEventState;
  let listener: CeleryEventListener;
  const workers: CeleryWorker[] = [];
  const states = new Map<string, CeleryQueueState>();

  const sample = async (queue: string): Promise<QueueSnapshot> => {
    const { keys, args } = celerySampleArgs(new CeleryKeys(queue));
    const reply = (await client.eval(
      SAMPLE_CELERY_QUEUE,
      keys.length,
      ...keys,
      ...args,
    )) as CelerySampleReply;
    if (!states.has(queue)) states.set(queue, new CeleryQueueState());
    return celerySnapshot(queue, Date.now(), reply, events, states.get(queue)!, 100);
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    client = redis.client();
    events = new CeleryEventState(DEFAULT_BUCKETS);
    listener = new CeleryEventListener(client, events);
    await listener.ready;
  }, 30_000);

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.kill()));
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await listener?.close();
    client?.disconnect();
    await redis?.stop();
  });

  it('should count the queue list and its priority lists as kombu does, and purge them', async () => {
    const queue = uniqueQueueName('celery_backlog');
    await celerySend(redis.port, queue, [
      { fn: 'work', args: [0] },
      { fn: 'work', args: [0] },
      { fn: 'work', args: [0], priority: 3 },
      { fn: 'work', args: [0], priority: 9 },
    ]);
    // Peeks at kombu's keys to pin the layout qscale relies on.
    expect(await client.llen(queue)).toBe(2);
    expect(await client.llen(`${queue}\x06\x163`)).toBe(1);
    expect(await client.llen(`${queue}\x06\x169`)).toBe(1);
    const snapshot = await sample(queue);
    expect(snapshot.backlog).toBe(await celeryLen(redis.port, queue));
    expect(snapshot.backlog).toBe(4);
    expect(snapshot.counts.wait).toBe(2);
    expect(snapshot.counts.prioritized).toBe(2);
    // The producer sent task-sent events: the oldest message's age is known.
    expect(snapshot.oldestJobAgeSeconds).toBeGreaterThan(0);
    expect(snapshot.oldestJobAgeSeconds).toBeLessThan(30);

    const jobs = new CeleryJobs(client, queue);
    const page = await jobs.list({ state: 'waiting', limit: 10 });
    expect(page.total).toBe(2);
    expect(page.jobs[0]!.name).toBe('qscale_celery_tasks.work(0,)');
    await expect(jobs.retry()).rejects.toThrow(/cannot be retried/);
    await expect(jobs.clean('waiting', 1000, 10)).rejects.toThrow(/olderThanSeconds 0/);
    expect(await jobs.clean('prioritized', 0, 1)).toBe(1);
    expect(await jobs.clean('waiting', 0, 100)).toBe(2);
    expect(await celeryLen(redis.port, queue)).toBe(1);
  }, 30_000);

  it('should read processed tasks, their times, live workers and busy slots from the events of workers with -E', async () => {
    const queue = uniqueQueueName('celery_events');
    await celerySend(redis.port, queue, [
      ...Array.from({ length: 4 }, () => ({ fn: 'work' as const, args: [0.5] })),
      { fn: 'fail', args: [0.2] },
    ]);
    const worker = new CeleryWorker(redis.port, queue, 'qs-events', {
      events: true,
      concurrency: 2,
    });
    workers.push(worker);
    await worker.ready;
    const busy = await until(
      () => sample(queue),
      (s) => s.workerTotals!.busy === 2,
    );
    expect(busy.workerTotals!.live).toBe(1);
    expect(busy.derived!.workerNames).toEqual([worker.hostname]);
    const done = await until(
      () => sample(queue),
      (s) => s.counts.completed === 4 && s.counts.failed === 1,
    );
    expect(done.backlog).toBe(0);
    expect(done.processing.completed.count).toBe(4);
    expect(done.processing.completed.sum / 4).toBeGreaterThanOrEqual(0.5);
    expect(done.processing.completed.sum / 4).toBeLessThan(1);
    expect(done.processing.failed.count).toBe(1);
    expect(done.wait.count).toBe(5);
    expect(done.derived!.workersKnown).toBe(true);
    expect(done.workers[0]!.concurrency).toBe(2);
    expect(done.workers[0]!.completed).toBe(4);
    await worker.stop();
    const gone = await until(
      () => sample(queue),
      (s) => s.workerTotals!.live === 0,
    );
    expect(gone.workerTotals!.busy).toBe(0);
  }, 40_000);

  it('should say worker numbers are unknown when workers run without events', async () => {
    const quiet = await startRedisServer();
    const quietClient = quiet.client();
    const quietEvents = new CeleryEventState(DEFAULT_BUCKETS);
    const quietListener = new CeleryEventListener(quietClient, quietEvents);
    const queue = uniqueQueueName('celery_quiet');
    const worker = new CeleryWorker(quiet.port, queue, 'qs-quiet', {
      events: false,
      concurrency: 1,
      prefetch: 4,
    });
    try {
      await quietListener.ready;
      await celerySend(
        quiet.port,
        queue,
        Array.from({ length: 5 }, () => ({ fn: 'work' as const, args: [0.5] })),
        false,
      );
      await worker.ready;
      const state = new CeleryQueueState();
      const read = async () => {
        const { keys, args } = celerySampleArgs(new CeleryKeys(queue));
        const reply = (await quietClient.eval(
          SAMPLE_CELERY_QUEUE,
          keys.length,
          ...keys,
          ...args,
        )) as CelerySampleReply;
        return celerySnapshot(queue, Date.now(), reply, quietEvents, state, 100);
      };
      // One running (acknowledged at start: no longer in Redis) and up to 4 prefetched, held in
      // kombu's unacked hash (peeked at with the script): the backlog is what is left in the list.
      const seen: string[] = [];
      const during = await until(
        async () => {
          const s = await read();
          seen.push(`${s.backlog}/${s.counts.active}`);
          return s;
        },
        (s) => s.counts.active >= 2 && s.backlog + s.counts.active <= 4,
      ).catch((error: unknown) => {
        throw new Error(`${(error as Error).message.slice(0, 100)} seen ${seen.join(' ')}`);
      });
      expect(during.derived!.workersKnown).toBe(false);
      expect(during.workerTotals!.live).toBe(0);
      expect(during.counts.completed).toBe(0);
      const after = await until(read, (s) => s.backlog === 0 && s.counts.active === 0);
      expect(after.derived!.workersKnown).toBe(false);
      expect(after.processing.completed.count).toBe(0);
    } finally {
      await worker.kill();
      await quietListener.close();
      quietClient.disconnect();
      await quiet.stop();
    }
  }, 40_000);

  it('should count a message a worker holds for its countdown as delayed, not as backlog', async () => {
    const queue = uniqueQueueName('celery_eta');
    const worker = new CeleryWorker(redis.port, queue, 'qs-eta', { events: true });
    workers.push(worker);
    await worker.ready;
    await celerySend(redis.port, queue, [{ fn: 'work', args: [0], countdown: 60 }]);
    const held = await until(
      () => sample(queue),
      (s) => s.counts.delayed === 1,
    );
    expect(held.backlog).toBe(0);
    expect(held.counts.active).toBe(0);
  }, 30_000);

  it('should give each queue of a batched run its own held messages from the shared unacked hash, read once', async () => {
    // kombu's `unacked` entries as its Redis transport writes them: [message, exchange, routing key]
    // (see the layout test above for real ones); one queue reached through a named exchange.
    const [a, b, c] = [uniqueQueueName('ca'), uniqueQueueName('cb'), uniqueQueueName('cc')];
    const entry = (id: string, exchange: string, routingKey: string, eta = false) =>
      JSON.stringify([
        { body: '', headers: { id, task: 't', eta: eta ? '2030-01-01T00:00:00' : null } },
        exchange,
        routingKey,
      ]);
    await client.hset(
      'unacked',
      'tag-a1',
      entry('a1', '', a),
      'tag-a2',
      entry('a2', '', a, true),
      'tag-b1',
      entry('b1', '', b),
      'tag-c1',
      entry('c1', 'direct-x', 'rk-c'),
    );
    await client.sadd('_kombu.binding.direct-x', `rk-c\x06\x16\x06\x16${c}`);
    try {
      const runs = [a, b, c].map((queue) => celerySampleArgs(new CeleryKeys(queue)));
      await client.config('RESETSTAT');
      const reply = (await client.eval(
        SAMPLE_CELERY_QUEUES,
        runs.reduce((n, run) => n + run.keys.length, 0),
        ...runs.flatMap((run) => run.keys),
        runs.length,
        ...runs.flatMap((run) => run.args),
      )) as CelerySampleReply[];
      const held = reply.map(([, , , messages]) =>
        messages.map(([id, eta]) => `${id}:${eta}`).sort(),
      );
      expect(held).toEqual([['a1:0', 'a2:1'], ['b1:0'], ['c1:0']]);
      // Every entry read (other tests' held messages may be there too, routed elsewhere).
      for (const [, , [total, read]] of reply) {
        expect(read).toBe(total);
        expect(total).toBeGreaterThanOrEqual(4);
      }
      // One HLEN and one HVALS for the three queues: the shared hash is read once per run.
      const stats = await client.info('commandstats');
      expect(/cmdstat_hvals:calls=(\d+)/.exec(stats)?.[1]).toBe('1');
      expect(/cmdstat_hlen:calls=(\d+)/.exec(stats)?.[1]).toBe('1');
    } finally {
      await client.hdel('unacked', 'tag-a1', 'tag-a2', 'tag-b1', 'tag-c1');
      await client.del('_kombu.binding.direct-x');
    }
  });

  it('should find queues by pattern from the bindings kombu declares', async () => {
    const suffix = uniqueQueueName('x');
    for (const name of [`found_a_${suffix}`, `found_b_${suffix}`, `other_${suffix}`]) {
      await celerySend(redis.port, name, [{ fn: 'work', args: [0] }]);
    }
    const found = await discoverCeleryQueues(
      client,
      { kind: 'celery', prefix: 'celery', pattern: `found_*_${suffix}` },
      10,
    );
    expect(found).toEqual([`found_a_${suffix}`, `found_b_${suffix}`]);
  }, 30_000);

  it('should wake a watch on a task-sent event, long before its timer', async () => {
    const watch = new CeleryWatch(client, 20_000);
    try {
      await watch.ready();
      const started = Date.now();
      const woken = watch.next();
      await celerySend(redis.port, uniqueQueueName('celery_watch'), [{ fn: 'work', args: [0] }]);
      await woken;
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await watch.close();
    }
  }, 30_000);

  it('should read events again after Redis came back (the subscription reconnects)', async () => {
    const own = await startRedisServer();
    const ownClient = own.client();
    const state = new CeleryEventState(DEFAULT_BUCKETS);
    const ownListener = new CeleryEventListener(ownClient, state);
    const queue = uniqueQueueName('celery_back');
    try {
      await ownListener.ready;
      await own.stop();
      await own.start();
      const worker = new CeleryWorker(own.port, queue, 'qs-back', { events: true });
      workers.push(worker);
      await worker.ready;
      await celerySend(own.port, queue, [{ fn: 'work', args: [0] }]);
      await until(
        async () => state.histograms(queue).processing.completed.count,
        (count) => count === 1,
      );
      expect(state.seen()).toMatchObject({ heartbeats: true, taskEvents: true, sent: true });
    } finally {
      await ownListener.close();
      ownClient.disconnect();
      await own.stop();
    }
  }, 40_000);
});
