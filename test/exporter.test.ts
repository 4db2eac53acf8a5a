import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { createExporterRegistry } from '../src/exporter/exporter-metrics.js';
import { ScrapeSource } from '../src/exporter/scrape-source.js';
import { ScalingSignals } from '../src/scaling/scaling-signals.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import { CliProcess } from '../harness/cli-process.js';
import { parsePromText, valueOf, find, type PromSample } from '../harness/prom-text.js';
import { commandsDuring, READ_ONLY_COMMANDS } from '../harness/redis-monitor.js';
import { redisPerFile } from '../harness/redis-per-file.js';
import { openTestQueue, uniqueQueueName } from '../harness/test-queue.js';
import { testEnv } from '../harness/stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Exporter', () => {
  const server = redisPerFile();
  const { cleanups } = server;

  /** An exporter for fresh queues; `queues[0]` is also QUEUE_NAME. */
  async function exporterFor(queues: string[], env: Env = {}) {
    const config = loadConfig(
      await testEnv(server.redis, {
        QUEUE_NAME: queues[0],
        QUEUES: queues.join(','),
        METRICS_PORT: '0',
        HOST: '127.0.0.1',
        SAMPLE_TTL_MS: '0',
        ...env,
      }),
    );
    const exporter = await runExporter(config, createLogger(config, 'test'));
    cleanups.push(() => exporter.close());
    return { config, exporter };
  }

  async function scrape(exporter: RunningExporter, headers: Record<string, string> = {}) {
    const res = await fetch(`${exporter.url}/metrics`, { headers });
    expect(res.status).toBe(200);
    return parsePromText(await res.text());
  }

  const queueNamed = uniqueQueueName;

  function newQueue(name: string) {
    const { queue, close } = openTestQueue(server.redis, name);
    cleanups.push(close);
    return queue;
  }

  /** A real BullMQ worker whose processor is wrapped by WorkerTelemetry. */
  async function instrumentedWorker(
    queueName: string,
    processor: (job: Job) => Promise<unknown>,
    options: { id: string; concurrency: number; heartbeatSeconds?: number; autorun?: boolean },
  ) {
    const connection = new Redis(server.redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    const telemetry = new WorkerTelemetry(
      connection,
      new QueueKeys('bull', queueName),
      createLogger({ logLevel: 'silent' }, 'test'),
      {
        workerId: options.id,
        concurrency: options.concurrency,
        heartbeatSeconds: options.heartbeatSeconds ?? 1,
        utilizationWindowSeconds: 5,
        buckets: loadConfig({}).metrics.buckets,
      },
    );
    const worker = new Worker(queueName, telemetry.instrument(processor), {
      connection,
      concurrency: options.concurrency,
      autorun: options.autorun ?? true,
    });
    await worker.waitUntilReady();
    await telemetry.start();
    cleanups.push(async () => {
      await worker.close();
      await telemetry.close();
      connection.disconnect();
    });
    return { worker, telemetry };
  }

  const waitFor = (check: () => Promise<boolean>, timeoutMs = 15_000) =>
    vi.waitFor(
      async () => {
        if (!(await check())) throw new Error('condition not met in time');
      },
      { timeout: timeoutMs, interval: 50 },
    );

  it('should report known work: 5 jobs of ~200 ms give count 5 and sum ≈ 1 s', async () => {
    const name = queueNamed('known');
    const queue = newQueue(name);
    const { exporter } = await exporterFor([name]);
    await instrumentedWorker(name, () => sleep(200), { id: 'w-known', concurrency: 5 });
    await queue.addBulk(Array.from({ length: 5 }, (_, i) => ({ name: 'job', data: { i } })));
    await waitFor(async () => (await queue.getJobCounts('completed')).completed === 5);
    await sleep(300); // job ends are flushed within 100 ms
    const m = await scrape(exporter);
    const labels = { queue: name, status: 'completed' };
    expect(valueOf(m, 'qscale_job_processing_seconds_count', labels)).toBe(5);
    const sum = valueOf(m, 'qscale_job_processing_seconds_sum', labels)!;
    // Node's timers may fire up to 1 ms early against the clock the worker measures with.
    expect(sum).toBeGreaterThanOrEqual(0.995);
    expect(sum).toBeLessThan(1.3);
    expect(valueOf(m, 'qscale_job_processing_seconds_bucket', { ...labels, le: '0.1' })).toBe(0);
    expect(valueOf(m, 'qscale_job_processing_seconds_bucket', { ...labels, le: '0.25' })).toBe(5);
    expect(valueOf(m, 'qscale_job_processing_seconds_bucket', { ...labels, le: '+Inf' })).toBe(5);
    expect(valueOf(m, 'qscale_jobs_processed_total', labels)).toBe(5);
    expect(valueOf(m, 'qscale_job_wait_seconds_count', { queue: name })).toBe(5);
    expect(valueOf(m, 'qscale_jobs_enqueued_total', { queue: name })).toBe(5);
    expect(
      valueOf(m, 'qscale_worker_jobs_total', {
        queue: name,
        worker: 'w-known',
        status: 'completed',
      }),
    ).toBe(5);
    expect(valueOf(m, 'qscale_queue_jobs', { queue: name, state: 'completed' })).toBe(5);
    expect(valueOf(m, 'qscale_redis_up')).toBe(1);
  });

  it('should keep counters right when jobs are removed on completion and on failure', async () => {
    const name = queueNamed('removed');
    const queue = newQueue(name);
    const { exporter } = await exporterFor([name]);
    await instrumentedWorker(
      name,
      async (job) => {
        if (job.data.fail) throw new UnrecoverableError('bad input');
      },
      { id: 'w-removed', concurrency: 4 },
    );
    await queue.addBulk([
      ...Array.from({ length: 6 }, () => ({
        name: 'ok',
        data: {},
        opts: { removeOnComplete: true },
      })),
      ...Array.from({ length: 2 }, () => ({
        name: 'bad',
        data: { fail: true },
        opts: { removeOnFail: true },
      })),
    ]);
    await waitFor(async () => {
      const m = await scrape(exporter);
      return (
        valueOf(m, 'qscale_jobs_processed_total', { queue: name, status: 'completed' }) === 6 &&
        valueOf(m, 'qscale_jobs_processed_total', { queue: name, status: 'failed' }) === 2
      );
    });
    const m = await scrape(exporter);
    // The jobs themselves are gone; the telemetry is not.
    expect(valueOf(m, 'qscale_queue_jobs', { queue: name, state: 'completed' })).toBe(0);
    expect(valueOf(m, 'qscale_queue_jobs', { queue: name, state: 'failed' })).toBe(0);
    expect(
      valueOf(m, 'qscale_job_processing_seconds_count', { queue: name, status: 'failed' }),
    ).toBe(2);
  });

  it('should put prioritized, paused and delayed (due and not due) jobs in the right states and in the backlog', async () => {
    const name = queueNamed('states');
    const paused = queueNamed('paused');
    const queue = newQueue(name);
    const pausedQueue = newQueue(paused);
    const { exporter } = await exporterFor([name, paused]);
    await queue.add('plain', {});
    await queue.add('plain', {});
    await queue.add('urgent', {}, { priority: 1 });
    await queue.add('later', {}, { delay: 3_600_000 });
    await queue.add('soon', {}, { delay: 50 });
    await queue.add('soon', {}, { delay: 50 });
    await pausedQueue.pause();
    await pausedQueue.add('held', {});
    await pausedQueue.add('held', {});
    await pausedQueue.add('held', {});
    await sleep(300); // the two 'soon' jobs are due; no worker promotes them
    const m = await scrape(exporter);
    const jobs = (queue: string, state: string) =>
      valueOf(m, 'qscale_queue_jobs', { queue, state });
    expect(jobs(name, 'wait')).toBe(2);
    expect(jobs(name, 'prioritized')).toBe(1);
    expect(jobs(name, 'delayed')).toBe(3);
    expect(jobs(name, 'paused')).toBe(0);
    // 2 waiting + 1 prioritized + 2 delayed and due; the one due in an hour is not backlog yet.
    expect(valueOf(m, 'qscale_queue_length', { queue: name })).toBe(5);
    expect(valueOf(m, 'qscale_queue_oldest_job_age_seconds', { queue: name })).toBeGreaterThan(0.2);
    expect(jobs(paused, 'paused')).toBe(3);
    expect(jobs(paused, 'wait')).toBe(0);
    expect(valueOf(m, 'qscale_queue_paused', { queue: paused })).toBe(1);
    expect(valueOf(m, 'qscale_queue_length', { queue: paused })).toBe(3);
  });

  it('should report a worker busy on every slot at ≈ 1 and an idle one at ≈ 0', async () => {
    const busyQueue = queueNamed('busy');
    const idleQueue = queueNamed('idle');
    const queue = newQueue(busyQueue);
    newQueue(idleQueue);
    const { exporter } = await exporterFor([busyQueue, idleQueue]);
    await queue.addBulk([
      { name: 'long', data: {} },
      { name: 'long', data: {} },
    ]);
    await instrumentedWorker(busyQueue, () => sleep(6000), { id: 'w-busy', concurrency: 2 });
    await instrumentedWorker(idleQueue, async () => undefined, { id: 'w-idle', concurrency: 3 });
    await sleep(3200); // three heartbeats
    const m = await scrape(exporter);
    const busy = valueOf(m, 'qscale_worker_utilization_ratio', {
      queue: busyQueue,
      worker: 'w-busy',
    })!;
    const idle = valueOf(m, 'qscale_worker_utilization_ratio', {
      queue: idleQueue,
      worker: 'w-idle',
    })!;
    expect(busy).toBeGreaterThan(0.9);
    expect(idle).toBe(0);
    expect(valueOf(m, 'qscale_worker_busy_slots', { queue: busyQueue, worker: 'w-busy' })).toBe(2);
    expect(valueOf(m, 'qscale_worker_concurrency', { queue: idleQueue, worker: 'w-idle' })).toBe(3);
    expect(
      valueOf(m, 'qscale_worker_busy_seconds_total', { queue: busyQueue, worker: 'w-busy' }),
    ).toBeGreaterThan(4);
    expect(valueOf(m, 'qscale_queue_utilization_ratio', { queue: busyQueue })).toBeGreaterThan(0.9);
    expect(valueOf(m, 'qscale_queue_utilization_ratio', { queue: idleQueue })).toBe(0);
    expect(valueOf(m, 'qscale_workers', { queue: busyQueue })).toBe(1);
    expect(valueOf(m, 'qscale_queue_jobs', { queue: busyQueue, state: 'active' })).toBe(2);
  });

  it("should drop a killed worker's series after the heartbeat TTL, and a stopped one's at once", async () => {
    const name = queueNamed('ttl');
    const { config, exporter } = await exporterFor([name]);
    const start = (id: string) => {
      const proc = new CliProcess(['worker'], {
        REDIS_URL: server.redis.url,
        QUEUE_NAME: name,
        UPLOAD_DIR: config.http.uploadDir,
        WORKER_ID: id,
        HEARTBEAT_SECONDS: '1',
      });
      cleanups.push(() => proc.stop());
      return proc;
    };
    const doomed = start('doomed-worker');
    const graceful = start('graceful-worker');
    start('surviving-worker');
    await waitFor(
      async () => valueOf(await scrape(exporter), 'qscale_workers', { queue: name }) === 3,
    );
    const series = (m: PromSample[], worker: string) =>
      find(m, 'qscale_worker_concurrency', { worker });

    graceful.kill('SIGTERM');
    await graceful.exited;
    expect(series(await scrape(exporter), 'graceful-worker')).toHaveLength(0);

    doomed.kill('SIGKILL');
    await doomed.exited;
    const killedAt = Date.now();
    expect(series(await scrape(exporter), 'doomed-worker')).toHaveLength(1);
    await waitFor(async () => series(await scrape(exporter), 'doomed-worker').length === 0, 8000);
    // TTL is 3 heartbeats = 3 s after the last one.
    expect(Date.now() - killedAt).toBeLessThan(4500);
    expect(valueOf(await scrape(exporter), 'qscale_workers', { queue: name })).toBe(1);
    // Peeking at the workers' shares of the queue totals: the surviving worker's heartbeat reaped
    // the killed one (the exporter only reads), within a heartbeat of its expiry.
    const client = server.redis.client();
    cleanups.push(async () => client.disconnect());
    const keys = new QueueKeys('bull', name);
    await waitFor(
      async () => (await client.hkeys(keys.workerContributions())).join() === 'surviving-worker',
      3000,
    );
    expect(await client.hget(keys.workerTotals(), 'concurrency')).toBe(
      String(config.worker.concurrency),
    );
  });

  it('should give per-worker series to the capped workers only and count every worker in the queue-level numbers', async () => {
    const name = queueNamed('cap');
    const client = server.redis.client();
    const telemetries: WorkerTelemetry[] = [];
    cleanups.push(async () => {
      await Promise.all(telemetries.map((t) => t.close()));
      client.disconnect();
    });
    const keys = new QueueKeys('bull', name);
    // 8 workers, the way real workers announce themselves; the first 3 started first.
    for (let i = 0; i < 8; i++) {
      const telemetry = new WorkerTelemetry(
        client,
        keys,
        createLogger({ logLevel: 'silent' }, 'test'),
        {
          workerId: `w${i}`,
          concurrency: 2,
          buckets: [1],
          now: () => Date.now() + i,
        },
      );
      if (i >= 6) telemetry.jobStarted(); // two workers beyond the cap are busy
      await telemetry.heartbeat();
      telemetries.push(telemetry);
    }
    const source = new ScrapeSource(
      new ScalingSignals(new QueueSampler(client, keys, { ttlMs: 0, maxWorkers: 3 }), 60),
      createLogger({ logLevel: 'silent' }, 'test'),
    );
    const registry = createExporterRegistry(
      source,
      { buckets: [1], perWorker: true, sizing: { targetWaitSeconds: 30 } },
      Registry.PROMETHEUS_CONTENT_TYPE,
    );
    await source.refresh();
    const m = parsePromText(await registry.metrics());
    expect(find(m, 'qscale_worker_concurrency').map((s) => s.labels.worker)).toEqual([
      'w0',
      'w1',
      'w2',
    ]);
    expect(find(m, 'qscale_worker_jobs_total')).toHaveLength(6);
    expect(valueOf(m, 'qscale_workers', { queue: name })).toBe(8);
    // 2 busy slots of 16, both on workers without a series of their own.
    expect(find(m, 'qscale_worker_busy_slots').every((s) => s.value === 0)).toBe(true);
    expect(source.sample!.queues[0]!.workerTotals).toMatchObject({
      live: 8,
      concurrency: 16,
      busy: 2,
      busyWorkers: 2,
    });
    const help = (await registry.getSingleMetricAsString('qscale_worker_concurrency')).split(
      '\n',
    )[0];
    expect(help).toContain('Only the WORKER_SERIES_LIMIT longest-running live workers');
  });

  it('should drop per-worker series with WORKER_METRICS=off', async () => {
    const name = queueNamed('noworker');
    const { exporter } = await exporterFor([name], { WORKER_METRICS: 'off' });
    await instrumentedWorker(name, async () => undefined, { id: 'w-hidden', concurrency: 1 });
    const m = await scrape(exporter);
    expect(valueOf(m, 'qscale_workers', { queue: name })).toBe(1);
    expect(m.filter((s) => s.labels.worker !== undefined)).toEqual([]);
  });

  it('should answer within REDIS_TIMEOUT_MS with qscale_redis_up 0 and no queue series while Redis is down', async () => {
    const name = queueNamed('down');
    newQueue(name);
    const { exporter } = await exporterFor([name], { REDIS_TIMEOUT_MS: '500' });
    expect(valueOf(await scrape(exporter), 'qscale_redis_up')).toBe(1);
    await server.redis.stop();
    try {
      const started = Date.now();
      const m = await scrape(exporter);
      expect(Date.now() - started).toBeLessThan(1500);
      expect(valueOf(m, 'qscale_redis_up')).toBe(0);
      expect(find(m, 'qscale_queue_length')).toEqual([]);
      expect(find(m, 'qscale_queue_jobs')).toEqual([]);
      expect(find(m, 'qscale_job_processing_seconds_count')).toEqual([]);
      expect(valueOf(m, 'qscale_scrape_errors_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await server.redis.start();
    }
    await waitFor(async () => valueOf(await scrape(exporter), 'qscale_redis_up') === 1);
    expect(valueOf(await scrape(exporter), 'qscale_queue_length', { queue: name })).toBe(0);
  });

  it('should read Redis in one script per queue with read-only commands whose number does not grow with the backlog', async () => {
    const name = queueNamed('monitor');
    const queue = newQueue(name);
    // The scrape's own commands are measured: no history writer ticking into the window.
    const { exporter } = await exporterFor([name], { HISTORY: 'off' });
    // MONITOR sees every client: this worker heartbeats at start only, so that nothing else
    // writes while a scrape is watched.
    await instrumentedWorker(name, async () => undefined, {
      id: 'w-mon',
      concurrency: 1,
      autorun: false,
      heartbeatSeconds: 60,
    });

    // The exporter's start-up read found no telemetry yet; one scrape sees the worker's.
    await scrape(exporter);
    // MONITOR shows every command the server runs, those inside scripts included: the way to see
    // what a scrape costs. This Redis is the test's own.
    const commandsOfOneScrape = async () =>
      (await commandsDuring(server.redis.client(), () => scrape(exporter))).map(
        ([command]) => command!,
      );
    await queue.addBulk(Array.from({ length: 10 }, () => ({ name: 'j', data: {} })));
    const small = await commandsOfOneScrape();
    await queue.addBulk(Array.from({ length: 2000 }, () => ({ name: 'j', data: {} })));
    const large = await commandsOfOneScrape();
    // A worker whose heartbeat expired a minute ago and that no peer has reaped yet: the scrape
    // reads its share (to subtract it) and still writes nothing.
    const expiredClient = server.redis.client();
    cleanups.push(async () => expiredClient.disconnect());
    await new WorkerTelemetry(
      expiredClient,
      new QueueKeys('bull', name),
      createLogger({ logLevel: 'silent' }, 'test'),
      { workerId: 'w-expired', concurrency: 1, buckets: [1], now: () => Date.now() - 60_000 },
    ).heartbeat();
    const withExpired = await commandsOfOneScrape();

    // The scripts' own commands, all read-only (CLIENT is not needed: the worker is instrumented).
    const readOnly = new Set([...READ_ONLY_COMMANDS].filter((c) => c !== 'client'));
    expect(small.filter((c) => !readOnly.has(c))).toEqual([]);
    expect(large.filter((c) => !readOnly.has(c))).toEqual([]);
    expect(withExpired.filter((c) => !readOnly.has(c))).toEqual([]);
    expect(withExpired).toContain('hmget');
    expect(small.filter((c) => c === 'evalsha' || c === 'eval')).toHaveLength(1);
    // Connection housekeeping of any client (a ready check, a keepalive) is not the scrape's work.
    const work = (commands: string[]) => commands.filter((c) => c !== 'info' && c !== 'ping');
    expect(work(large)).toHaveLength(work(small).length);
    expect(small.length).toBeLessThan(30);
  });

  it('should require METRICS_AUTH on /metrics (bearer or basic, the scheme in any case) but not on /healthz', async () => {
    const name = queueNamed('auth');
    const bearer = (await exporterFor([name], { METRICS_AUTH: 'bearer:scrape-token-0123456789' }))
      .exporter;
    expect((await fetch(`${bearer.url}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${bearer.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status,
    ).toBe(401);
    // The scheme is case-insensitive (RFC 7235), as on the API and the console.
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      expect(
        (
          await fetch(`${bearer.url}/metrics`, {
            headers: { Authorization: `${scheme} scrape-token-0123456789` },
          })
        ).status,
        scheme,
      ).toBe(200);
    }
    expect(
      (
        await fetch(`${bearer.url}/metrics`, {
          headers: { Authorization: 'Basic scrape-token-0123456789' },
        })
      ).status,
    ).toBe(401);
    expect((await fetch(`${bearer.url}/healthz`)).status).toBe(200);

    const basic = (await exporterFor([name], { METRICS_AUTH: 'basic:prom:secret-pass' })).exporter;
    const credentials = Buffer.from('prom:secret-pass').toString('base64');
    const denied = await fetch(`${basic.url}/metrics`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toContain('Basic');
    for (const scheme of ['Basic', 'basic']) {
      expect(
        (
          await fetch(`${basic.url}/metrics`, {
            headers: { Authorization: `${scheme} ${credentials}` },
          })
        ).status,
        scheme,
      ).toBe(200);
    }
  });

  it('should cut a client that sends its request slowly within seconds, answering others meanwhile', async () => {
    const { exporter } = await exporterFor([queueNamed('slow')]);
    const { port } = new URL(exporter.url);
    // A slowloris: the request line, then one header byte every 500 ms, never the blank line.
    const socket = connect(Number(port), '127.0.0.1');
    const started = Date.now();
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const drip = setInterval(() => socket.writable && socket.write('a'), 500);
    try {
      // Others are answered at once meanwhile.
      await sleep(1000);
      const healthz = Date.now();
      expect((await fetch(`${exporter.url}/healthz`)).status).toBe(200);
      expect(Date.now() - healthz).toBeLessThan(1000);
      // Cut after the 10 s header limit (checked every 2 s), not Node's 60 s.
      const end = await Promise.race([closed, sleep(25_000).then(() => undefined)]);
      expect(end, 'the slow client was not cut within 25 s').toBeDefined();
      expect(end! - started).toBeGreaterThanOrEqual(9_000);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  }, 40_000);

  it('should expose exactly the qscale metrics docs/metrics.md documents, with their types', async () => {
    const name = queueNamed('docs');
    const { exporter } = await exporterFor([name]);
    await instrumentedWorker(name, async () => undefined, { id: 'w-docs', concurrency: 1 });
    const body = await (await fetch(`${exporter.url}/metrics`)).text();
    const exposed = [...body.matchAll(/^# TYPE (qscale_\S+) (\S+)$/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    const readme = await readFile(new URL('../docs/metrics.md', import.meta.url), 'utf8');
    const documented = [
      ...readme.matchAll(/^\| `(qscale_[a-z_]+)` +\| (gauge|counter|histogram) /gm),
    ].map((m) => `${m[1]} ${m[2]}`);
    expect(documented.length).toBeGreaterThan(15);
    expect(exposed.sort()).toEqual(documented.sort());
  });

  it('should serve OpenMetrics when asked and Prometheus text otherwise', async () => {
    const name = queueNamed('om');
    const { exporter } = await exporterFor([name]);
    const text = await fetch(`${exporter.url}/metrics`);
    expect(text.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    expect(await text.text()).toContain('# TYPE qscale_jobs_processed_total counter');
    const om = await fetch(`${exporter.url}/metrics`, {
      headers: { Accept: 'application/openmetrics-text; version=1.0.0' },
    });
    expect(om.headers.get('content-type')).toContain('application/openmetrics-text');
    const body = await om.text();
    expect(body).toContain('# TYPE qscale_jobs_processed counter');
    expect(body.trimEnd().endsWith('# EOF')).toBe(true);
  });
});
