import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './kustomize.js';

const run = promisify(execFile);

/** The chart, relative to the repository root. */
export const CHART_DIR = 'charts/qscale';

/**
 * Settings the chart sets itself (from `redis`, `secrets`, the ports it serves, `queues`, the pod's
 * name and namespace): values.schema.json refuses them under `config`, and `npm run
 * docs:settings` writes every other declared setting into its list of allowed keys.
 */
export const CHART_OWNED_SETTINGS: readonly string[] = [
  'REDIS_URL',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_CLUSTER_NODES',
  'REDIS_DATA_DIR',
  'HOST',
  'PORT',
  'METRICS_PORT',
  'KEDA_PORT',
  'UPLOAD_DIR',
  'QUEUES',
  'API_TOKEN',
  'ACTION_TOKEN',
  'WORKER_ID',
  'POD_DELETION_COST',
  'POD_NAMESPACE',
  // Secrets do not belong in a ConfigMap: extraEnv with a secretKeyRef.
  'EMBEDDING_API_KEY',
  'METRICS_AUTH',
];

/** The values files under the chart's `ci/` (chart-testing's convention), relative to the root. */
export function ciValuesFiles(): string[] {
  return readdirSync(join(REPO_ROOT, CHART_DIR, 'ci'))
    .filter((name) => name.endsWith('-values.yaml'))
    .sort()
    .map((name) => `${CHART_DIR}/ci/${name}`);
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `helm <args>` from the repository root; a non-zero exit is returned, not thrown. */
export async function helmRun(helm: string, args: string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(helm, args, {
      cwd: REPO_ROOT,
      maxBuffer: 32 * 1024 * 1024,
      timeout: 60_000,
      // No kubeconfig, no repositories: rendering and linting need neither.
      env: { ...process.env, KUBECONFIG: '/dev/null', HELM_NO_PLUGINS: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const {
      code,
      stdout = '',
      stderr = '',
    } = error as {
      code?: number | string;
      stdout?: string;
      stderr?: string;
    };
    if (typeof code !== 'number') throw error;
    return { code, stdout, stderr };
  }
}

export interface RenderOptions {
  /** @defaultValue 'qscale' (object names then match k8s/base) */
  release?: string;
  /** @defaultValue 'qscale' */
  namespace?: string;
  /** Values files, relative to the repository root. */
  valuesFiles?: string[];
  /** `--set` pairs. */
  set?: Record<string, string>;
}

function renderArgs(options: RenderOptions): string[] {
  return [
    options.release ?? 'qscale',
    CHART_DIR,
    '--namespace',
    options.namespace ?? 'qscale',
    ...(options.valuesFiles ?? []).flatMap((file) => ['--values', file]),
    ...Object.entries(options.set ?? {}).flatMap(([key, value]) => ['--set', `${key}=${value}`]),
  ];
}

/** Parses a multi-document YAML stream into its non-empty documents. */
export function parseManifests(yaml: string, what: string): unknown[] {
  return parseAllDocuments(yaml).flatMap((document) => {
    if (document.errors.length > 0) {
      throw new Error(`${what}: bad YAML: ${document.errors[0]!.message}`);
    }
    const value: unknown = document.toJS();
    return value === null ? [] : [value];
  });
}

/** `helm template` of the chart: its objects, or an error with helm's message. */
export async function helmTemplate(helm: string, options: RenderOptions = {}): Promise<unknown[]> {
  const result = await helmRun(helm, ['template', ...renderArgs(options)]);
  if (result.code !== 0) {
    throw new Error(`helm template ${renderArgs(options).join(' ')}: ${result.stderr.trim()}`);
  }
  return parseManifests(result.stdout, 'helm template');
}

/** What `helm install --dry-run=client` prints after the objects: the rendered NOTES.txt. */
export async function helmNotes(helm: string, options: RenderOptions = {}): Promise<string> {
  const result = await helmRun(helm, ['install', '--dry-run=client', ...renderArgs(options)]);
  if (result.code !== 0) throw new Error(`helm install --dry-run=client: ${result.stderr.trim()}`);
  const notes = result.stdout.indexOf('\nNOTES:\n');
  return notes < 0 ? '' : result.stdout.slice(notes + '\nNOTES:\n'.length);
}
