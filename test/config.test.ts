import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { loadConfig } from '../src/config/load-config.js';
import { redisOptionsFor } from '../src/redis/redis-connection.js';
import { runCli } from '../harness/cli-process.js';

describe('loadConfig', () => {
  it('should apply the documented defaults', () => {
    const config = loadConfig({});
    expect(config.queue).toEqual({ name: 'file_processing', prefix: 'bull' });
    expect(config.http.port).toBeUndefined();
    expect(config.http.maxUploadBytes).toBe(100 * 1024 * 1024);
    expect(config.embedding).toMatchObject({
      provider: 'hash',
      dimensions: 256,
      model: 'hash-ngram-v1',
    });
    expect(config.redis.url).toBeUndefined();
  });

  it('should parse the retention settings: files kept forever by default, jobs for a day or a week', () => {
    const defaults = loadConfig({});
    expect(defaults.retention).toEqual({ fileSeconds: 0, maxFiles: 0, intervalSeconds: 60 });
    expect(defaults.worker).toMatchObject({
      keepCompleted: 1000,
      keepFailed: 5000,
      keepCompletedSeconds: 86_400,
      keepFailedSeconds: 604_800,
    });
    const set = loadConfig({
      FILE_RETENTION_SECONDS: '3600',
      MAX_FILES: '100',
      RETENTION_INTERVAL_SECONDS: '5',
      KEEP_COMPLETED_SECONDS: '0',
      KEEP_FAILED_SECONDS: '60',
    });
    expect(set.retention).toEqual({ fileSeconds: 3600, maxFiles: 100, intervalSeconds: 5 });
    expect(set.worker).toMatchObject({ keepCompletedSeconds: 0, keepFailedSeconds: 60 });
    let error: unknown;
    try {
      loadConfig({ RETENTION_INTERVAL_SECONDS: '0', MAX_FILES: '-1' });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).problems).toEqual([
      'MAX_FILES="-1": must be a whole number from 0 to 1000000000',
      'RETENTION_INTERVAL_SECONDS="0": must be a whole number from 1 to 86400',
    ]);
  });

  it('should accept a hash-tag prefix, rediss:// with credentials, and Sentinel', () => {
    const config = loadConfig({
      QUEUE_PREFIX: '{bull}',
      REDIS_URL: 'rediss://user:p%40ss@redis.example:6380/2',
      REDIS_SENTINELS: 's1:26379, [::1]:26380',
      REDIS_SENTINEL_NAME: 'main',
    });
    expect(config.queue.prefix).toBe('{bull}');
    expect(config.redis.sentinels).toEqual([
      { host: 's1', port: 26379 },
      { host: '::1', port: 26380 },
    ]);
    const options = redisOptionsFor(config.redis, { role: 'request' });
    expect(options).toMatchObject({ username: 'user', password: 'p@ss', db: 2, name: 'main' });
    expect(options.tls).toBeDefined();
  });

  it('should name every bad variable, its value and what is allowed', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: '70000',
        REDIS_URL: 'http://x',
        WORKER_CONCURRENCY: 'many',
        EMBEDDING_PROVIDER: 'magic',
        QUEUE_PREFIX: 'a:b',
        API_TOKEN: 'short',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('PORT="70000": must be a whole number from 0 to 65535');
    expect(problems).toContain('REDIS_URL="http://x": must be a URL like redis://');
    expect(problems).toContain('WORKER_CONCURRENCY="many"');
    expect(problems).toContain('EMBEDDING_PROVIDER="magic": must be one of: hash, openai');
    expect(problems).toContain('QUEUE_PREFIX="a:b"');
    // Secrets are never echoed.
    expect(problems).toContain('API_TOKEN="*****"');
    expect(problems).not.toContain('short');
  });

  it('should parse the exporter settings', () => {
    const config = loadConfig({
      QUEUE_NAME: 'files',
      QUEUES: 'files, emails',
      METRICS_AUTH: 'basic:prom:pass:with:colons',
      HISTOGRAM_BUCKETS: '0.5,1,30',
      WORKER_METRICS: 'off',
    });
    expect(config.metrics.queues.map((q) => q.name)).toEqual(['files', 'emails']);
    expect(config.metrics).toMatchObject({
      auth: { kind: 'basic', user: 'prom', password: 'pass:with:colons' },
      buckets: [0.5, 1, 30],
      perWorker: false,
      heartbeatSeconds: 5,
      utilizationWindowSeconds: 60,
      sampleTtlMs: 1000,
    });
    expect(loadConfig({}).metrics.queues.map((q) => q.name)).toEqual(['file_processing']);
    expect(loadConfig({ METRICS_AUTH: 'bearer:0123456789abcdef' }).metrics.auth).toEqual({
      kind: 'bearer',
      token: '0123456789abcdef',
    });
    expect(() => loadConfig({ HISTOGRAM_BUCKETS: '1,0.5' })).toThrow(
      /HISTOGRAM_BUCKETS="1,0.5": must be 1-50 positive numbers/,
    );
    expect(() => loadConfig({ QUEUES: 'a,a' })).toThrow(/distinct/);
    expect(() => loadConfig({ QUEUES: 'ok,bad name' })).toThrow(/"bad name" must be/);
    expect(() => loadConfig({ METRICS_AUTH: 'token' })).toThrow(
      /METRICS_AUTH=".*": must be bearer:/,
    );
  });

  it('should check settings against each other', () => {
    expect(() => loadConfig({ CHUNK_SIZE: '200', CHUNK_OVERLAP: '200' })).toThrow(
      /CHUNK_OVERLAP=200: must be smaller than CHUNK_SIZE/,
    );
    expect(() => loadConfig({ EMBEDDING_PROVIDER: 'openai' })).toThrow(
      /EMBEDDING_URL=unset: required/,
    );
    expect(() => loadConfig({ WORKER_ID: 'bad id with spaces' })).toThrow(/WORKER_ID=/);
    expect(() => loadConfig({ WORKER_ID: 'x'.repeat(129) })).toThrow(/WORKER_ID=/);
    expect(loadConfig({ WORKER_ID: 'pod-0.a:b_c' }).worker.id).toBe('pod-0.a:b_c');
    expect(() => loadConfig({ MIN_WORKERS: '5', MAX_WORKERS: '4' })).toThrow(
      'MIN_WORKERS=5: must not be above MAX_WORKERS (4)',
    );
    expect(loadConfig({ MIN_WORKERS: '4', MAX_WORKERS: '4' }).autoscale).toMatchObject({
      minWorkers: 4,
      maxWorkers: 4,
    });
  });

  // The parts take these values as loadConfig returns them and do not check them again
  // (LocalAutoscaler, PodDeletionCostKeeper, RetentionSweeper, ExtractionSandbox, WorkerTelemetry,
  // QueueSampler): every value out of their range must be refused here.
  it.each([
    ['MIN_WORKERS', '-1'],
    ['MIN_WORKERS', '1.5'],
    ['MAX_WORKERS', '0'],
    ['AUTOSCALE_INTERVAL_SECONDS', '0'],
    ['AUTOSCALE_STABILIZATION_SECONDS', '-1'],
    ['POD_DELETION_COST_INTERVAL_SECONDS', '0'],
    ['FILE_RETENTION_SECONDS', '-1'],
    ['MAX_FILES', '-1'],
    ['KEEP_COMPLETED_SECONDS', '-1'],
    ['KEEP_FAILED_SECONDS', '-1'],
    ['RETENTION_INTERVAL_SECONDS', '0'],
    ['WORKER_CONCURRENCY', '0'],
    ['EXTRACT_TIMEOUT_SECONDS', '0'],
    ['EXTRACT_MAX_MEMORY_MB', '0'],
    ['EXTRACT_MAX_CHARACTERS', '0'],
    ['DOCX_MAX_UNCOMPRESSED_MB', '0'],
    ['PDF_MAX_PAGES', '0'],
    ['PDF_MAX_INFLATED_MB', '0'],
    ['MAX_CHUNKS_PER_FILE', 'Infinity'],
    ['HEARTBEAT_SECONDS', '0'],
    ['SAMPLE_TTL_MS', '-1'],
    ['REDIS_TIMEOUT_MS', 'NaN'],
    ['WORKER_SERIES_LIMIT', '-1'],
    ['UTILIZATION_WINDOW_SECONDS', '0'],
  ])('should refuse %s=%s, naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(
      new RegExp(`${name}="${value.replace('.', '\\.')}": must be a whole number from`),
    );
  });

  it('should parse the Redis topology and durability settings', () => {
    const config = loadConfig({
      REDIS_CLUSTER_NODES: 'redis-0:6379, redis-1:6380,[::1]:7000',
      QUEUE_PREFIX: '{bull}',
      REDIS_TIMEOUT_MS: '2000',
      REDIS_MIN_REPLICAS_ACK: '1',
      REDIS_ACK_TIMEOUT_MS: '250',
    });
    expect(config.redis).toMatchObject({
      clusterNodes: [
        { host: 'redis-0', port: 6379 },
        { host: 'redis-1', port: 6380 },
        { host: '::1', port: 7000 },
      ],
      timeoutMs: 2000,
      minReplicasAck: 1,
      ackTimeoutMs: 250,
    });
    expect(loadConfig({}).redis).toMatchObject({ timeoutMs: 1000, minReplicasAck: 0 });
  });

  it('should refuse a Cluster setup whose queue keys would not share a slot', () => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'r:6379' })).toThrow(
      /QUEUE_PREFIX="bull": Redis Cluster .* needs every key of a queue in one hash slot.*QUEUE_PREFIX=\{bull\}/,
    );
    expect(() =>
      loadConfig({
        REDIS_CLUSTER_NODES: 'r:6379',
        QUEUE_PREFIX: '{bull}',
        QUEUES: 'a,bullmq:app/b',
      }),
    ).toThrow(/queue "b" has prefix "app" without a hash tag; .*bullmq:\{app\}\/b/);
    expect(() =>
      loadConfig({
        REDIS_CLUSTER_NODES: 'r:6379',
        REDIS_SENTINELS: 's:26379',
        QUEUE_PREFIX: '{b}',
      }),
    ).toThrow(/use one topology/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'r' })).toThrow(/"r" is not host:port/);
    expect(() => loadConfig({ REDIS_MIN_REPLICAS_ACK: '1', REDIS_ACK_TIMEOUT_MS: '1000' })).toThrow(
      /REDIS_ACK_TIMEOUT_MS=1000: must be below REDIS_TIMEOUT_MS/,
    );
  });

  it('should read QUEUES entries as names or bullmq:<prefix>/<name> addresses', () => {
    const config = loadConfig({ QUEUE_PREFIX: '{q}', QUEUES: 'a, bullmq:{x}/b,bullmq:app/c' });
    expect(config.metrics.queues).toEqual([
      { kind: 'bullmq', prefix: '{q}', name: 'a' },
      { kind: 'bullmq', prefix: '{x}', name: 'b' },
      { kind: 'bullmq', prefix: 'app', name: 'c' },
    ]);
    expect(() => loadConfig({ QUEUES: 'a,bullmq:{x}/a' })).toThrow(/"a" is listed twice/);
    expect(() => loadConfig({ QUEUES: 'bullmq:/a' })).toThrow(/has prefix ""/);
    expect(() => loadConfig({ QUEUES: 'sidekiq:a' })).toThrow(
      /not a queue name, bullmq:<prefix>\/<name>, rq:<name> or celery:<queue>/,
    );
  });

  it('should read celery:<queue> entries, and refuse them on a Redis Cluster', () => {
    expect(loadConfig({ QUEUES: 'celery:images,celery:default' }).metrics.queues).toEqual([
      { kind: 'celery', prefix: 'celery', name: 'images' },
      { kind: 'celery', prefix: 'celery', name: 'default' },
    ]);
    expect(() => loadConfig({ QUEUES: 'celery:a b' })).toThrow(/celery:<queue>/);
    expect(() =>
      loadConfig({ REDIS_CLUSTER_NODES: 'r:6379', QUEUE_PREFIX: '{b}', QUEUES: 'celery:images' }),
    ).toThrow(
      /"celery:images" is a Celery queue: kombu's Redis transport does not run on Redis Cluster/,
    );
  });
});

describe('qscale CLI with a bad setting', () => {
  it('should exit with code 2 and a message naming the variable', async () => {
    const { code, stderr } = await runCli(['worker'], { WORKER_CONCURRENCY: '0' });
    expect(code).toBe(2);
    expect(stderr).toContain('WORKER_CONCURRENCY="0": must be a whole number from 1 to 1000');
  });

  it('should let a flag override the environment, and validate it the same way', async () => {
    const { code, stderr } = await runCli(['app', '--port', 'abc'], { PORT: '8080' });
    expect(code).toBe(2);
    expect(stderr).toContain('PORT="abc"');
  });
});
