import { hostname } from 'node:os';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { parseQueueEntry } from '../kinds/queue-addresses.js';
import { isQueuePattern, type QueueAddress, type QueuePattern } from '../kinds/queue-kind.js';
import { driverOf } from '../kinds/registry.js';
import { configOf, type Config } from './config.js';
import { hashTagOf } from './queue-address.js';
import { SETTINGS } from './settings.js';
import { WORKER_ID_PATTERN } from './worker-id.js';

/**
 * Every setting, by its environment variable (declared in settings.ts). The schema's keys are the
 * variable names, so an error always names the variable the user has to fix.
 */
const envSchema = z.object(
  Object.fromEntries(Object.entries(SETTINGS).map(([name, s]) => [name, s.schema])) as {
    [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]['schema'];
  },
);

export type Env = Record<string, string | undefined>;

function describeValue(env: Env, key: string): string {
  const value = env[key];
  if (value === undefined) return 'unset';
  if (/PASSWORD|TOKEN|KEY/.test(key)) return `"${'*'.repeat(Math.min(value.length, 8))}"`;
  return JSON.stringify(value);
}

/**
 * Parses and validates every setting once. Throws a {@link ConfigError} listing every bad variable
 * with its value and what is allowed.
 */
export function loadConfig(env: Env = process.env): Config {
  // Empty strings mean "unset", as in most twelve-factor tools.
  const cleaned: Env = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      return `${key}=${describeValue(cleaned, key)}: ${issue.message}`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.CHUNK_OVERLAP >= e.CHUNK_SIZE) {
    problems.push(
      `CHUNK_OVERLAP=${e.CHUNK_OVERLAP}: must be smaller than CHUNK_SIZE (${e.CHUNK_SIZE})`,
    );
  }
  if (e.EMBEDDING_PROVIDER === 'openai' && !e.EMBEDDING_URL) {
    problems.push(
      'EMBEDDING_URL=unset: required when EMBEDDING_PROVIDER=openai (an OpenAI-compatible base URL such as https://api.openai.com/v1)',
    );
  }
  const workerId = e.WORKER_ID ?? `${hostname()}-${process.pid}`;
  if (!WORKER_ID_PATTERN.test(workerId)) {
    problems.push(
      `WORKER_ID=${JSON.stringify(workerId)}: must be 1-128 characters of letters, digits, "_", ".", ":" or "-"`,
    );
  }
  if (e.MIN_WORKERS > e.MAX_WORKERS) {
    problems.push(`MIN_WORKERS=${e.MIN_WORKERS}: must not be above MAX_WORKERS (${e.MAX_WORKERS})`);
  }
  if ((e.KEDA_TLS_CERT === undefined) !== (e.KEDA_TLS_KEY === undefined)) {
    problems.push(
      `KEDA_TLS_CERT=${e.KEDA_TLS_CERT ? 'set' : 'unset'}, KEDA_TLS_KEY=${e.KEDA_TLS_KEY ? 'set' : 'unset'}: set both (PEM files) to serve TLS, or neither for plaintext`,
    );
  }
  if (e.KEDA_TLS_CA !== undefined && e.KEDA_TLS_CERT === undefined) {
    problems.push(
      'KEDA_TLS_CA=set: client certificates (mTLS) need KEDA_TLS_CERT and KEDA_TLS_KEY too',
    );
  }
  const queues: QueueAddress[] = [];
  const queuePatterns: QueuePattern[] = [];
  const entries = e.QUEUES
    ? e.QUEUES.split(',')
        .map((entry) => entry.trim())
        .filter(Boolean)
    : [e.QUEUE_NAME];
  for (const entry of entries) {
    const selector = parseQueueEntry(entry, e.QUEUE_PREFIX);
    if (typeof selector === 'string') {
      problems.push(`QUEUES=${JSON.stringify(e.QUEUES)}: "${entry}" ${selector}`);
      continue;
    }
    if (isQueuePattern(selector)) {
      queuePatterns.push(selector);
      continue;
    }
    if (queues.some((q) => q.name === selector.name)) {
      problems.push(
        `QUEUES=${JSON.stringify(e.QUEUES)}: queue "${selector.name}" is listed twice; queue names must be distinct`,
      );
      continue;
    }
    queues.push(selector);
  }
  if (entries.length === 0) {
    problems.push(`QUEUES=${JSON.stringify(e.QUEUES)}: must list one or more distinct queue names`);
  }
  if (e.REDIS_CLUSTER_NODES !== undefined) {
    if (e.REDIS_SENTINELS !== undefined) {
      problems.push(
        'REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: use one topology (Cluster or Sentinel)',
      );
    }
    if (!hashTagOf(e.QUEUE_PREFIX)) {
      problems.push(
        `QUEUE_PREFIX=${JSON.stringify(e.QUEUE_PREFIX)}: Redis Cluster (REDIS_CLUSTER_NODES) needs every key of a queue in one hash slot, and BullMQ's scripts fail with CROSSSLOT otherwise; set a hash tag such as QUEUE_PREFIX={${e.QUEUE_PREFIX}}`,
      );
    }
    const named = [
      ...queues,
      ...queuePatterns.map((p) => ({ kind: p.kind, prefix: p.prefix, name: p.pattern })),
    ];
    for (const address of named) {
      const problem = driverOf(address.kind).clusterProblem(address, e.QUEUE_PREFIX);
      if (problem) problems.push(`QUEUES=${JSON.stringify(e.QUEUES)}: ${problem}`);
    }
  }
  if (e.REDIS_ACK_TIMEOUT_MS >= e.REDIS_TIMEOUT_MS && e.REDIS_MIN_REPLICAS_ACK > 0) {
    problems.push(
      `REDIS_ACK_TIMEOUT_MS=${e.REDIS_ACK_TIMEOUT_MS}: must be below REDIS_TIMEOUT_MS (${e.REDIS_TIMEOUT_MS}), or the WAIT for replicas is cut off by the command deadline`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return configOf(e, { workerId, queues, queuePatterns });
}
