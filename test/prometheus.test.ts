import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { testEnv } from '../harness/stack.js';

describe('Exporter scraped by a real Prometheus', () => {
  let redis: TestRedisServer;
  let exporter: RunningExporter;
  let queue: Queue;
  let dir: string;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl = '';
  const queueName = `prom_${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'qscale-prom-'));
    const config = loadConfig(
      await testEnv(redis, { QUEUE_NAME: queueName, METRICS_PORT: '0', HOST: '127.0.0.1' }),
    );
    exporter = await runExporter(config, createLogger(config, 'test'));
    queue = new Queue(queueName, { connection: redis.client() });
    await queue.addBulk(Array.from({ length: 7 }, (_, i) => ({ name: 'job', data: { i } })));
  });

  afterAll(async () => {
    prometheus?.kill('SIGKILL');
    await queue.obliterate({ force: true });
    await queue.close();
    await exporter.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('should produce output that `promtool check metrics` accepts', async () => {
    const body = await (await fetch(`${exporter.url}/metrics`)).text();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('should be scraped by prometheus, and PromQL should return the backlog created', async () => {
    const port = await getPort({ host: '127.0.0.1' });
    prometheusUrl = `http://127.0.0.1:${port}`;
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(
      configFile,
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: qscale',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${exporter.port}']`,
        '',
      ].join('\n'),
    );
    let log = '';
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr!.on('data', (data: Buffer) => (log += data.toString()));

    // Until the series is scraped (25 s; a failed query means prometheus is not up yet), then the
    // expects say what is off, with prometheus's log.
    let result: { metric: Record<string, string>; value: [number, string] }[] = [];
    await vi
      .waitFor(
        async () => {
          const res = await fetch(
            `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(`qscale_queue_length{queue="${queueName}"}`)}`,
          );
          const json = (await res.json()) as { data?: { result: typeof result } };
          result = json.data?.result ?? [];
          if (result.length === 0) throw new Error('no series yet');
        },
        { timeout: 25_000, interval: 250 },
      )
      .catch(() => undefined);
    expect(result, log.slice(-2000)).toHaveLength(1);
    expect(result[0]!.metric).toMatchObject({ job: 'qscale', queue: queueName });
    expect(Number(result[0]!.value[1])).toBe(7);

    const up = await fetch(`${prometheusUrl}/api/v1/query?query=up{job="qscale"}`);
    const upJson = (await up.json()) as { data: { result: { value: [number, string] }[] } };
    expect(upJson.data.result[0]!.value[1]).toBe('1');
  });
});
