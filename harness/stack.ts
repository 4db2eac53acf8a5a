import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import type { Config } from '../src/config/config.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import type { ApiContext } from '../src/app/api-context.js';
import { createApp } from '../src/app/express-adapter.js';
import { createApiContext } from '../src/cli/run-app.js';
import { runWorker, type RunningWorker } from '../src/cli/run-worker.js';
import type { FileRecord, FileStatus } from '../src/pipeline/file-record.js';
import type { TestRedisServer } from './redis-server.js';

export interface TestStack {
  config: Config;
  context: ApiContext;
  app: Express;
  worker?: RunningWorker;
  uploadDir: string;
  /** Polls the record until it reaches `status` (or fails the test after `timeoutMs`). */
  waitForStatus(id: string, status: FileStatus, timeoutMs?: number): Promise<FileRecord>;
  /** Every file under the upload directory (blobs and temporary parts). */
  listUploadFiles(): Promise<string[]>;
  /** Every Redis key of this stack's queue. */
  listQueueKeys(): Promise<string[]>;
  close(): Promise<void>;
}

/** Settings every test stack uses: a unique queue, a private upload dir, quiet logs, fast retries. */
export async function testEnv(redis: TestRedisServer, env: Env = {}): Promise<Env> {
  return {
    REDIS_URL: redis.url,
    QUEUE_NAME: `test_${randomUUID().slice(0, 8)}`,
    UPLOAD_DIR: await mkdtemp(join(tmpdir(), 'qscale-test-')),
    LOG_LEVEL: 'silent',
    JOB_BACKOFF_MS: '50',
    // Never the default ports: test files run in parallel.
    METRICS_PORT: '0',
    KEDA_PORT: '0',
    ...env,
  };
}

/** The upload API (for supertest, no listen) and optionally an in-process worker on a test Redis. */
export async function createTestStack(
  redis: TestRedisServer,
  env: Env = {},
  options: { worker?: boolean } = {},
): Promise<TestStack> {
  const config = loadConfig(await testEnv(redis, env));
  const logger = createLogger(config, 'test');
  const context = createApiContext(config, logger);
  const worker = options.worker === false ? undefined : await runWorker(config, logger);
  await context.queue.waitUntilReady();

  const listUploadFiles = async () => {
    const entries = await readdir(config.http.uploadDir, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name));
  };

  return {
    config,
    context,
    app: createApp(context),
    ...(worker && { worker }),
    uploadDir: config.http.uploadDir,
    async waitForStatus(id, status, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let record: FileRecord | undefined;
      while (Date.now() < deadline) {
        record = await context.records.get(id);
        if (record?.status === status) return record;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(
        `file ${id} did not reach ${status} within ${timeoutMs} ms: ${JSON.stringify(record)}`,
      );
    },
    listUploadFiles,
    // Tests peek at keys to prove that a rejected request wrote nothing; this Redis is the test's own.
    async listQueueKeys() {
      const keys = await context.redis.keys(`${config.queue.prefix}:${config.queue.name}:*`);
      return keys.sort();
    },
    async close() {
      await worker?.close();
      await context.settler.close();
      await context.acker?.close();
      await context.queue.obliterate({ force: true }).catch(() => undefined);
      await context.queue.close();
      await context.redis.quit().catch(() => undefined);
      await rm(config.http.uploadDir, { recursive: true, force: true });
    },
  };
}
