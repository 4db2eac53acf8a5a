import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { dashboardExpressions, loadAlertRules } from '../harness/monitoring-files.js';
import {
  startPrometheus,
  type PromQueryResponse,
  type TestPrometheus,
} from '../harness/prometheus-server.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, testEnv, type TestStack } from '../harness/stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Expressions that legitimately return nothing in this test's scenario (a worker that processed
 * 12 files and failed 3, then paused with 5 jobs waiting, two exporters, Redis up): alert
 * conditions that do not hold. Everything else must return data, so a misspelt metric or label
 * fails the test.
 */
const EXPECTED_EMPTY = [
  'alert QscaleOldestJobTooOld', // the oldest job is seconds old, not 600 s
  'alert QscaleBacklogWithoutWorkers', // the paused worker still sends heartbeats
  'alert QscaleWorkersSaturated', // the worker was busy a fraction of its window
  'alert QscaleExporterRedisDown', // Redis is up
  'alert QscaleExporterAbsent', // both exporters are scraped
  'alert QscaleRedisMemoryNearMax', // the test's Redis has no maxmemory
];

/** Grafana's variables as Grafana would fill them for one queue and a 1 s scrape interval. */
function fillVariables(expr: string, queue: string): string {
  return expr
    .replaceAll('${queue}', queue)
    .replaceAll('$queue', queue)
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '5m');
}

/**
 * The operands of an alert's expr without their threshold comparison (`a > 0 and on (q) b == 0`
 * gives `a` and `b`; `absent(x)` gives `x`): what must return data even while the alert is quiet.
 */
function alertOperands(expr: string): string[] {
  return expr
    .trim()
    .split(/\n\s*(?:and|or|unless)(?:\s+(?:on|ignoring)\s*\([^)]*\))?\s*\n/)
    .map((part) =>
      part
        .trim()
        .replace(/\s*(?:==|!=|>=|<=|>|<)\s*[-+]?[\d.]+(?:e[-+]?\d+)?$/, '')
        .replace(/^absent\((.*)\)$/s, '$1'),
    );
}

function isEmpty(response: PromQueryResponse): boolean {
  const result = response.data?.result;
  return Array.isArray(result) && result.length === 0;
}

describe('PromQL of the dashboards and alerts against a real Prometheus', () => {
  const queueName = `promql_${Math.random().toString(36).slice(2, 8)}`;
  const env = {
    QUEUE_NAME: queueName,
    QUEUES: queueName,
    METRICS_PORT: '0',
    KEDA_PORT: '0',
    HOST: '127.0.0.1',
    HEARTBEAT_SECONDS: '1',
  };
  let redis: TestRedisServer;
  let dir: string;
  let stack: TestStack | undefined;
  let prometheus: TestPrometheus | undefined;
  const exporters: RunningExporter[] = [];
  const tempDirs: string[] = [];
  let results: Promise<{ name: string; expr: string; response: PromQueryResponse }[]> | undefined;

  /** Uploads a file through the API and returns its id. */
  async function upload(content: string, name: string): Promise<string> {
    const res = await request(stack!.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from(content), name);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return (res.body as { id: string }).id;
  }

  /** Every dashboard expression (variables filled in) and every alert expr, queried once. */
  function queryAll() {
    results ??= (async () => {
      const exprs = [
        ...dashboardExpressions().map(({ name, expr }) => ({
          name,
          expr: fillVariables(expr, queueName),
        })),
        ...loadAlertRules().map((rule) => ({ name: `alert ${rule.alert}`, expr: rule.expr })),
      ];
      return Promise.all(
        exprs.map(async ({ name, expr }) => ({
          name,
          expr,
          response: await prometheus!.query(expr),
        })),
      );
    })();
    return results;
  }

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'qscale-promql-'));
    // Two exporters on the same Redis and queue, as two sidecar replicas in Kubernetes.
    for (let i = 0; i < 2; i++) {
      const config = loadConfig(await testEnv(redis, env));
      tempDirs.push(config.http.uploadDir);
      exporters.push(await runExporter(config, createLogger(config, 'test')));
    }
    stack = await createTestStack(redis, { ...env, WORKER_ID: 'promql-worker-1' });
    prometheus = await startPrometheus(
      exporters.map((exporter) => `127.0.0.1:${exporter.port}`),
      dir,
    );
    // Both exporters scraped before any job runs, so the counters' increases fall inside rate().
    await prometheus.waitForSeries(`qscale_jobs_processed_total{queue="${queueName}"}`, 4);

    const completed = await Promise.all(
      Array.from({ length: 12 }, (_, i) => upload(`file ${i}: some words to embed`, `f${i}.txt`)),
    );
    const failed = await Promise.all(
      Array.from({ length: 3 }, (_, i) => upload('{"not json', `bad${i}.json`)),
    );
    await Promise.all([
      ...completed.map((id) => stack!.waitForStatus(id, 'completed')),
      ...failed.map((id) => stack!.waitForStatus(id, 'failed')),
    ]);

    // An empty queue for a few samples first: the first jobs wait while the extraction threads
    // start, and a short early backlog must not outweigh the growth below in deriv().
    await prometheus.waitForSeries(`max(qscale_queue_length{queue="${queueName}"}) == 0`, 1);
    await sleep(6_000);
    // A backlog: the worker stops taking jobs (it stays live) and 5 more arrive.
    await stack.worker!.worker.worker.pause();
    await Promise.all(Array.from({ length: 5 }, (_, i) => upload(`later ${i}`, `later${i}.txt`)));
    await prometheus.waitForSeries(`max(qscale_queue_length{queue="${queueName}"}) == 5`, 1);
    // A few more samples of the backlog for the 1m rates, and as many as deriv() over the whole
    // run needs to see the growth: on a slow machine the first burst waits longer, and a fixed
    // sleep left the slope still negative once (CI). The alert's other half already holds.
    await sleep(6_000);
    await prometheus.waitForSeries(
      `max by (queue) (deriv(qscale_queue_length{queue="${queueName}"}[15m])) > 0`,
      1,
      30_000,
    );
  }, 90_000);

  afterAll(async () => {
    await prometheus?.stop();
    await stack?.close();
    for (const exporter of exporters) await exporter.close();
    await redis?.stop();
    for (const path of [dir, ...tempDirs]) await rm(path, { recursive: true, force: true });
  });

  it('should parse every dashboard and alert expression', async () => {
    const all = await queryAll();
    expect(all.length).toBeGreaterThan(20);
    for (const { name, expr } of all) expect(expr, `${name}: unknown variable`).not.toContain('$');
    const errors = all
      .filter(({ response }) => response.status !== 'success')
      .map(({ name, response }) => `${name}: ${response.error}`);
    expect(errors).toEqual([]);
  });

  it('should return data for every expression but the alert conditions that do not hold', async () => {
    const empty = (await queryAll())
      .filter(({ response }) => isEmpty(response))
      .map(({ name }) => name);
    console.info(`expressions that returned nothing:\n  ${empty.join('\n  ') || '(none)'}`);
    expect(empty).toEqual(EXPECTED_EMPTY);
  });

  it('should return data for every alert expression without its threshold', async () => {
    const empty: string[] = [];
    for (const rule of loadAlertRules()) {
      const operands = alertOperands(rule.expr);
      expect(operands.length, rule.alert).toBeGreaterThan(0);
      for (const operand of operands) {
        const response = await prometheus!.query(operand);
        expect(response.status, `${rule.alert}: ${operand}: ${response.error}`).toBe('success');
        if (isEmpty(response)) empty.push(`${rule.alert}: ${operand}`);
      }
    }
    expect(empty).toEqual([]);
  });

  it('should show the scenario: a backlog of 5, 12 completed and 3 failed attempts, both exporters up', async () => {
    const value = async (expr: string) => {
      const response = await prometheus!.query(expr);
      const result = response.data?.result as { value: [number, string] }[];
      expect(result, expr).toHaveLength(1);
      return Number(result[0]!.value[1]);
    };
    const q = `queue="${queueName}"`;
    expect(await value(`max(qscale_queue_length{${q}})`)).toBe(5);
    expect(await value(`max(qscale_jobs_processed_total{${q}, status="completed"})`)).toBe(12);
    expect(await value(`max(qscale_jobs_processed_total{${q}, status="failed"})`)).toBe(3);
    expect(await value(`count(qscale_queue_length{${q}})`)).toBe(2);
    expect(await value('sum(qscale_redis_up)')).toBe(2);
  });
});
