import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/load-config.js';
import { parseTriggerMetadata } from '../src/keda/trigger-metadata.js';
import { CliProcess } from '../harness/cli-process.js';
import {
  docFiles,
  parseDoc,
  shellCommands,
  shellWords,
  type DocBlock,
  type DocContext,
  type InlineCommand,
} from '../harness/doc-examples.js';
import { CHART_DIR, helmRun, helmTemplate, type RenderOptions } from '../harness/helm-chart.js';
import {
  REPO_ROOT,
  kustomize,
  podTemplates,
  selects,
  validateObject,
  type KubeObject,
} from '../harness/kustomize.js';

// "Docs that are run": every shell example of the README, docs/ and the chart's README either runs
// here against a real stack (`qscale start` from source, its own redis-server, the real CLI, the
// real helm and kubectl) or carries `<!-- doc: not run here: <why> -->`. Commands that need a
// cluster are checked against what the manifests render: a `kubectl … deploy/qscale-exporter`
// must name a Deployment that the kustomize overlay and the chart both create.

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

function helm(): string {
  const provided = inject('helm');
  if ('error' in provided) throw new Error(provided.error);
  return provided.path;
}

const DOCS = docFiles().map((file) => ({ file, ...parseDoc(file) }));
const SHELL = ['sh', 'bash'];

// ---------------------------------------------------------------------------------------------
// What kubectl commands name, in each layout the docs describe: the kustomize overlay and the
// chart (release `qscale` in namespace `qscale`, whose objects are named as k8s/base's).

const LAYOUTS: Record<DocContext, { overlays: string[]; chart: RenderOptions }> = {
  default: {
    overlays: ['k8s/overlays/keda', 'k8s/monitoring'],
    chart: { valuesFiles: [`${CHART_DIR}/ci/monitoring-values.yaml`] },
  },
  single: {
    overlays: ['k8s/overlays/single'],
    chart: { valuesFiles: [`${CHART_DIR}/ci/single-values.yaml`] },
  },
};

interface Layout {
  name: string;
  namespace: string;
  objects: KubeObject[];
}

const layoutCache = new Map<DocContext, Promise<Layout[]>>();
function layouts(context: DocContext): Promise<Layout[]> {
  let found = layoutCache.get(context);
  if (!found) {
    const { overlays, chart } = LAYOUTS[context];
    found = (async () => [
      {
        name: overlays.join(' + '),
        namespace: 'qscale',
        objects: overlays.flatMap((dir) => kustomize(dir)) as KubeObject[],
      },
      {
        name: `helm template qscale ${CHART_DIR} ${(chart.valuesFiles ?? []).join(' ')}`,
        namespace: 'qscale',
        objects: (await helmTemplate(helm(), chart)) as KubeObject[],
      },
    ])();
    layoutCache.set(context, found);
  }
  return found;
}

/** Namespaces of other installs (KEDA's, Prometheus's): their objects are not ours to check. */
const OTHER_NAMESPACES = ['keda', 'monitoring', 'kube-system'];

const KINDS: Record<string, string> = {
  deploy: 'Deployment',
  deployment: 'Deployment',
  deployments: 'Deployment',
  svc: 'Service',
  service: 'Service',
  scaledobject: 'ScaledObject',
  hpa: 'HorizontalPodAutoscaler',
  networkpolicy: 'NetworkPolicy',
  servicemonitor: 'ServiceMonitor',
  configmap: 'ConfigMap',
  secret: 'Secret',
  endpoints: 'Service',
  pods: 'Pod',
};

/** kubectl options whose value is the next word. */
const VALUE_OPTIONS = [
  '-l',
  '--selector',
  '-o',
  '--output',
  '-c',
  '--container',
  '-k',
  '-f',
  '--filename',
];

function labelSelector(text: string): Record<string, string> {
  return Object.fromEntries(text.split(',').map((pair) => pair.split('=') as [string, string]));
}

/**
 * What a kubectl command names, checked in one layout: problems (empty when it holds), and the
 * qscale arguments of an `exec … -- node /app/dist/cli/main.js …` to run against the stack.
 */
function checkKubectl(words: string[], layout: Layout): { problems: string[]; cli?: string[] } {
  const problems: string[] = [];
  let namespace: string | undefined;
  const rest: string[] = [];
  const dashDash = words.indexOf('--');
  const own = dashDash < 0 ? words.slice(1) : words.slice(1, dashDash);
  for (let i = 0; i < own.length; i++) {
    const word = own[i]!;
    if (word === '-n' || word === '--namespace') namespace = own[++i];
    else rest.push(word);
  }
  const [verb, ...args] = rest;
  // A mention in prose (`kubectl port-forward`, "every `kubectl apply -k`"), not a command.
  if (args.filter((a) => !a.startsWith('-')).length === 0 && !args.some((a) => a.includes('='))) {
    if (['kustomize', 'port-forward', 'apply'].includes(verb ?? '')) return { problems };
  }
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (VALUE_OPTIONS.includes(args[i]!)) i++;
    else if (!args[i]!.startsWith('-')) positional.push(args[i]!);
  }
  const option = (name: string) => {
    const i = args.indexOf(name);
    if (i >= 0) return args[i + 1];
    return args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  };
  const exists = (kind: string, name: string) =>
    layout.objects.some((o) => o.kind === kind && o.metadata.name === name);
  const resource = (ref: string): { kind: string; name: string } | undefined => {
    const [type, name] = ref.split('/');
    const kind = KINDS[type!.toLowerCase()];
    return kind && name ? { kind, name } : undefined;
  };
  const need = (kind: string, name: string) => {
    if (!exists(kind, name)) problems.push(`no ${kind} ${name} in ${layout.name}`);
  };
  const selectorMatches = (selector: string) => {
    const wanted = labelSelector(selector);
    if (!podTemplates(layout.objects).some((t) => selects(wanted, t.labels))) {
      problems.push(`no pod labelled ${selector} in ${layout.name}`);
    }
  };

  if (verb === 'kustomize' || (verb === 'apply' && option('-k'))) {
    const dir = verb === 'kustomize' ? positional[0]! : option('-k')!;
    expect(kustomize(dir).length, `kubectl kustomize ${dir}`).toBeGreaterThan(0);
    return { problems };
  }
  // prometheus-adapter's APIService: another install's, cluster-wide.
  if (verb === 'get' && args[0]?.toLowerCase() === 'apiservice') return { problems };
  if (namespace && OTHER_NAMESPACES.includes(namespace)) {
    // Another install's objects, or ones the command itself creates there.
    if (verb === 'create' && positional[0] === 'configmap') {
      const file = option('--from-file');
      if (file && !existsSync(join(REPO_ROOT, file))) problems.push(`no file ${file}`);
    }
    return { problems };
  }
  if (namespace !== undefined && namespace !== layout.namespace) {
    problems.push(`namespace ${namespace}, where ${layout.name} puts ${layout.namespace}`);
  }
  const first = positional[0];
  switch (verb) {
    case 'create':
      if (first === 'namespace') {
        if (positional[1] !== layout.namespace) problems.push(`namespace ${positional[1]}`);
      } else if (first === 'secret' && positional[1] === 'generic') {
        const name = positional[2]!;
        const given = args
          .filter((a) => a.startsWith('--from-literal='))
          .map((a) => a.slice('--from-literal='.length).split('=')[0]);
        // Every key the pods take from that Secret without `optional: true`.
        const needed = podTemplates(layout.objects).flatMap((t) =>
          t.spec.containers.flatMap((c) =>
            (c.env ?? []).flatMap((e) => {
              const ref = e.valueFrom?.secretKeyRef;
              return ref && ref.name === name && !ref.optional ? [ref.key] : [];
            }),
          ),
        );
        if (needed.length === 0) problems.push(`no pod reads Secret ${name} in ${layout.name}`);
        for (const key of new Set(needed)) {
          if (!given.includes(key)) problems.push(`Secret ${name} lacks ${key}`);
        }
      } else {
        problems.push(`no check for kubectl create ${first}`);
      }
      break;
    case 'get':
    case 'logs':
    case 'describe':
    case 'edit':
    case 'scale':
    case 'rollout':
    case 'exec':
    case 'port-forward': {
      const selector = option('-l');
      if (selector) selectorMatches(selector);
      // `get hpa`, `describe scaledobject qscale-worker`, `logs deploy/x`, `rollout restart deployment/x`.
      const refs = (verb === 'rollout' ? positional.slice(1) : positional).filter(
        (p) => !/^\d+(:\d+)?$/.test(p),
      );
      let target: { kind: string; name: string } | undefined;
      if (refs[0]?.includes('/')) {
        target = resource(refs[0]);
        if (!target) problems.push(`no check for ${refs[0]}`);
      } else if (refs[0]) {
        const kind = KINDS[refs[0].toLowerCase()];
        if (!kind) {
          problems.push(`no check for kubectl ${verb} ${refs[0]}`);
        } else if (refs[1]) {
          target = { kind, name: refs[1] };
        } else if (kind !== 'Pod' && !layout.objects.some((o) => o.kind === kind)) {
          problems.push(`no ${kind} in ${layout.name}`);
        }
      }
      if (target && !/^<.*>$/.test(target.name)) need(target.kind, target.name);
      if (verb === 'port-forward' && target) {
        const port = Number(
          positional
            .find((p) => /^\d+(:\d+)?$/.test(p))
            ?.split(':')
            .pop(),
        );
        const object = layout.objects.find(
          (o) => o.kind === target.kind && o.metadata.name === target.name,
        ) as { spec?: { ports?: { port: number }[] } } | undefined;
        const template = podTemplates(layout.objects).find((t) => t.name === target.name);
        const ports =
          target.kind === 'Service'
            ? (object?.spec?.ports ?? []).map((p) => p.port)
            : (template?.spec.containers ?? []).flatMap((c) =>
                (c.ports ?? []).map((p) => p.containerPort),
              );
        if (!ports.includes(port))
          problems.push(`${target.kind} ${target.name} has no port ${port}`);
      }
      if (verb === 'exec') {
        const command = dashDash < 0 ? [] : words.slice(dashDash + 1);
        if (command[0] !== 'node' || command[1] !== '/app/dist/cli/main.js') {
          problems.push(`exec runs ${command.join(' ')}, not the image's CLI`);
        }
        const template = podTemplates(layout.objects).find((t) => t.name === target?.name);
        if (template && !template.spec.containers.some((c) => c.image?.includes('qscale'))) {
          problems.push(`${target!.name} does not run the qscale image`);
        }
        return { problems, cli: command.slice(2) };
      }
      break;
    }
    case 'label':
      if (first === 'namespace' && positional[1] !== layout.namespace) {
        problems.push(`namespace ${positional[1]}`);
      }
      break;
    default:
      problems.push(`no check for kubectl ${verb}`);
  }
  return { problems };
}

/** `helm install|upgrade NAME charts/qscale …` as `helm template` (no cluster here). */
function helmTemplateArgs(words: string[]): string[] | undefined {
  const [, verb, ...rest] = words;
  if (verb !== 'install' && verb !== 'upgrade') return undefined;
  const kept: string[] = [];
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!;
    if (
      ['--create-namespace', '--reuse-values', '--wait', '--atomic', '--install'].includes(word)
    ) {
      continue;
    }
    if (['-n', '--namespace', '-f', '--values', '--set', '--set-string'].includes(word)) {
      kept.push(word, rest[++i]!);
    } else if (word.startsWith('-')) {
      kept.push(word);
    } else {
      positional.push(word);
    }
  }
  const [release, chart] = positional;
  if (!chart?.startsWith('charts/')) return undefined;
  return ['template', release!, chart, ...kept];
}

// ---------------------------------------------------------------------------------------------
// qscale's own flags, from its help.

const helpCache = new Map<string, string>();
function qscaleHelp(path: string[]): string | undefined {
  const key = path.join(' ');
  if (!helpCache.has(key)) {
    const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...path, '--help'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    helpCache.set(key, result.status === 0 ? result.stdout : '');
  }
  return helpCache.get(key) || undefined;
}

/** Problems of `qscale <args>` as the CLI parses it: an unknown command or flag. */
function checkQscale(args: string[]): string[] {
  if (args[0] === '--version' || args.some((a) => /^<.*>$/.test(a) && a === args[0])) return [];
  // `qscale jobs --token` names a flag of every `jobs` action: read one action's help.
  const path =
    args[0] === 'jobs'
      ? ['jobs', args[1] && !args[1].startsWith('-') ? args[1] : 'list']
      : [args[0]!];
  const help = qscaleHelp(path);
  if (!help) return [`qscale ${path.join(' ')}: no such command`];
  return args
    .filter((a) => a.startsWith('--'))
    .map((a) => a.split('=')[0]!)
    .filter(
      (flag) => !help.includes(`${flag} `) && !help.includes(`${flag},`) && !help.endsWith(flag),
    )
    .map((flag) => `qscale ${path.join(' ')}: no flag ${flag}`);
}

/** The arguments of a `npx qscale …` / `qscale …` command, or undefined for other commands. */
function qscaleArgs(words: string[]): string[] | undefined {
  const start = words.findIndex((w) => !/^[A-Z_]+=/.test(w));
  const [head, next, ...rest] = words.slice(start);
  if (head === 'npx' && next === 'qscale') return rest;
  if (head === 'qscale') return [next!, ...rest].filter((w) => w !== undefined);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The real stack the runnable blocks use: what `npm start` runs (`qscale start`), from source.

interface DocStack {
  start: CliProcess;
  appPort: number;
  sidecarPort: number;
  dir: string;
  shims: string;
  env: NodeJS.ProcessEnv;
  /** Failed jobs the console examples act on. */
  failed: string[];
}

async function startStack(): Promise<DocStack> {
  const dir = await mkdtemp(join(tmpdir(), 'qscale-docs-'));
  const env = {
    REDIS_URL: '',
    REDIS_DATA_DIR: join(dir, 'redis'),
    UPLOAD_DIR: join(dir, 'uploads'),
    PORT: '0',
    METRICS_PORT: '0',
    KEDA_PORT: '0',
    HOST: '127.0.0.1',
    QSCALE_URL: '',
  };
  const start = new CliProcess(['start'], env);
  const upload = await start.waitForLog((line) => typeof line.upload === 'string', 60_000);
  const metrics = await start.waitForLog((line) => typeof line.metrics === 'string');
  const appPort = Number(new URL(String(upload.url)).port);
  const sidecarPort = Number(new URL(String(metrics.url)).port);
  // `npx qscale …` and `qscale …` run this checkout's CLI; `xdg-open` fetches the page instead.
  const shims = join(dir, 'bin');
  spawnSync('mkdir', ['-p', shims]);
  const cli = `exec "${process.execPath}" --import tsx "${MAIN}" "$@"`;
  await writeFile(
    join(shims, 'npx'),
    `#!/usr/bin/env bash\nif [ "$1" = qscale ]; then shift; ${cli}; fi\necho "npx $1: not qscale" >&2; exit 127\n`,
  );
  await writeFile(join(shims, 'qscale'), `#!/usr/bin/env bash\n${cli}\n`);
  await writeFile(
    join(shims, 'xdg-open'),
    '#!/usr/bin/env bash\ncurl -sf -o /dev/null -w "%{content_type}" "$1" | grep -q "^text/html"\n',
  );
  for (const shim of ['npx', 'qscale', 'xdg-open']) await chmod(join(shims, shim), 0o755);
  const failed: string[] = [];
  for (const name of ['broken-1.json', 'broken-2.json']) {
    const form = new FormData();
    form.append('file', new Blob(['{"not": json']), name);
    const res = await fetch(`http://localhost:${appPort}/api/v1/files`, {
      method: 'POST',
      body: form,
    });
    failed.push(((await res.json()) as { id: string }).id);
  }
  for (const id of failed) {
    const deadline = Date.now() + 15_000;
    const status = async () =>
      (
        (await (await fetch(`http://localhost:${appPort}/api/v1/files/${id}`)).json()) as {
          status: string;
        }
      ).status;
    while ((await status()) !== 'failed') {
      if (Date.now() > deadline) throw new Error(`the broken upload ${id} did not fail in 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    start,
    appPort,
    sidecarPort,
    dir,
    shims,
    env: { ...process.env, ...env, PATH: `${shims}:${process.env.PATH}`, LOG_LEVEL: 'warn' },
    failed,
  };
}

/** Runs a shell command as the docs show it, on the stack's ports. */
function runShell(
  stack: DocStack,
  command: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const local = command
    .replace(/\b(localhost|127\.0\.0\.1):8080\b/g, `$1:${stack.appPort}`)
    .replace(/\b(localhost|127\.0\.0\.1):9464\b/g, `$1:${stack.sidecarPort}`);
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', local], { cwd: REPO_ROOT, env: stack.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `"key": "value"` pairs a trailing comment promises (`…` stands for anything). */
function promised(comment: string): [string, string][] {
  return [...comment.matchAll(/"(\w+)":\s*"([^"]*)"/g)]
    .map((m) => [m[1]!, m[2]!] as [string, string])
    .filter(([, value]) => !value.includes('…'));
}

function holds(output: string, pairs: [string, string][]): boolean {
  let body: unknown;
  try {
    body = JSON.parse(output);
  } catch {
    return pairs.length === 0;
  }
  return pairs.every(([key, value]) => (body as Record<string, unknown>)[key] === value);
}

// ---------------------------------------------------------------------------------------------

describe('Docs that are run', () => {
  let stack: DocStack;

  beforeAll(async () => {
    stack = await startStack();
  }, 90_000);

  afterAll(async () => {
    if (!stack) return;
    stack.start.kill('SIGTERM');
    await stack.start.exited;
    await rm(stack.dir, { recursive: true, force: true });
  });

  it('should find the docs and their examples', () => {
    const blocks = DOCS.flatMap((doc) => doc.blocks).filter((b) => SHELL.includes(b.lang));
    expect(blocks.length).toBeGreaterThan(10);
    expect(DOCS.flatMap((doc) => doc.inline).length).toBeGreaterThan(20);
  });

  for (const doc of DOCS) {
    const shellBlocks = doc.blocks.filter((b) => SHELL.includes(b.lang));
    if (shellBlocks.length === 0) continue;
    describe(doc.file, () => {
      for (const block of shellBlocks) {
        const title = `${block.file}:${block.line} ${block.code.split('\n')[0]!.slice(0, 60)}`;
        if (block.notRun) {
          it(`should say why ${title} is not run here`, () => {
            expect(block.notRun!.length).toBeGreaterThan(10);
          });
          continue;
        }
        it(`should run ${title}`, { timeout: 180_000 }, async () => {
          await runBlock(stack, block);
        });
      }
    });
  }
});

async function runBlock(stack: DocStack, block: DocBlock): Promise<void> {
  const where = `${block.file}:${block.line}`;
  const placeholders: Record<string, string> = {
    id: stack.failed[0]!,
    'other-id': stack.failed[1]!,
  };
  for (const { command: written, comment } of shellCommands(block.code)) {
    // `npm ci && npm start`: this checkout is installed, and the stack is `npm start`'s
    // `qscale start` (run from source).
    const steps = written.split(/\s*&&\s*/);
    if (steps.every((step) => ['npm ci', 'npm start'].includes(step))) continue;
    let command = written.replace(/\s*&$/, '');
    for (const [name, value] of Object.entries(placeholders)) {
      command = command.replaceAll(`<${name}>`, value);
    }
    expect(command, `${where}: a placeholder left`).not.toMatch(/<[a-z-]+>/);
    const words = shellWords(command);
    if (words[0] === 'kubectl') {
      for (const layout of await layouts(block.context)) {
        const { problems, cli } = checkKubectl(words, layout);
        expect(problems, `${where}: ${command}`).toEqual([]);
        if (cli && layout === (await layouts(block.context))[0]) {
          // What it runs in the pod, run against this stack.
          const result = await runShell(stack, `npx qscale ${cli.join(' ')}`);
          expect([0, 1], `${where}: qscale ${cli.join(' ')}: ${result.stderr}`).toContain(
            result.code,
          );
        }
      }
      continue;
    }
    if (words[0] === 'helm') {
      const args = helmTemplateArgs(words);
      expect(
        args,
        `${where}: ${command}: only helm install/upgrade of charts/ runs here`,
      ).toBeDefined();
      const result = await helmRun(helm(), args!);
      expect(result.code, `${where}: helm ${args!.join(' ')}: ${result.stderr}`).toBe(0);
      continue;
    }
    const args = qscaleArgs(words);
    if (args) expect(checkQscale(args), `${where}: ${command}`).toEqual([]);
    const expected = promised(comment);
    let result = await runShell(stack, command);
    // A promise about a later state (`"status": "completed"`) may take the worker a moment.
    for (
      let tries = 0;
      tries < 50 && result.code === 0 && !holds(result.stdout, expected);
      tries++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      result = await runShell(stack, command);
    }
    const allowed = args?.[0] === 'doctor' ? [0, 1] : [0];
    expect(allowed, `${where}: ${command}: ${result.stderr}${result.stdout}`).toContain(
      result.code,
    );
    expect(holds(result.stdout, expected), `${where}: ${command} → ${result.stdout}`).toBe(true);
    const id = /"id":\s*"([0-9a-f-]{36})"/.exec(result.stdout)?.[1];
    if (id) placeholders.id = id;
  }
}

describe('Commands in the docs that need a cluster, checked against the manifests', () => {
  const inline = DOCS.flatMap((doc) => doc.inline);

  it('should name, in each layout, the objects and labels the manifests create', async () => {
    const problems: string[] = [];
    for (const { file, line, command, context } of inline.filter((c) =>
      c.command.startsWith('kubectl '),
    )) {
      const words = shellWords(command.split('|')[0]!);
      for (const layout of await layouts(context)) {
        for (const problem of checkKubectl(words, layout).problems) {
          problems.push(`${file}:${line}: ${command}: ${problem}`);
        }
        const cli = checkKubectl(words, layout).cli;
        if (cli) {
          problems.push(...checkQscale(cli).map((p) => `${file}:${line}: ${p}`));
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('should use only commands and flags qscale has', () => {
    const problems = inline
      .filter((c: InlineCommand) => !c.command.startsWith('kubectl '))
      .flatMap(({ file, line, command }) => {
        const args = qscaleArgs(shellWords(command.split('|')[0]!));
        return args ? checkQscale(args).map((p) => `${file}:${line}: ${p}`) : [];
      });
    expect(problems).toEqual([]);
  });

  it('should catch the kind of slip the audit found', async () => {
    // The single layout has no sidecar Deployment and no worker label.
    const [single] = await layouts('single');
    expect(
      checkKubectl(
        shellWords(
          'kubectl -n qscale exec deploy/qscale-exporter -- node /app/dist/cli/main.js doctor',
        ),
        single!,
      ).problems,
    ).toEqual([`no Deployment qscale-exporter in ${single!.name}`]);
    expect(
      checkKubectl(
        shellWords('kubectl -n qscale get pods -l app.kubernetes.io/component=worker'),
        single!,
      ).problems,
    ).toEqual([`no pod labelled app.kubernetes.io/component=worker in ${single!.name}`]);
    expect(checkQscale(['status', '--log-levle', 'warn'])).toEqual([
      'qscale status: no flag --log-levle',
    ]);
  });
});

describe('YAML in the docs', () => {
  const blocks = DOCS.flatMap((doc) => doc.blocks).filter((b) => b.lang === 'yaml');

  for (const block of blocks) {
    it(`should be a valid object or trigger: ${block.file}:${block.line}`, () => {
      const value = parse(block.code) as unknown;
      const triggers = Array.isArray(value)
        ? (value as { type: string; metadata: Record<string, string> }[])
        : (() => {
            validateObject(value);
            expect(ScaledObject.is(value), `${block.file}:${block.line}`).toBe(true);
            return (value as unknown as ScaledObject).spec.triggers as {
              type: string;
              metadata: Record<string, string>;
            }[];
          })();
      expect(triggers.length).toBeGreaterThan(0);
      for (const trigger of triggers) {
        expect(['external', 'external-push']).toContain(trigger.type);
        // The sidecar that watches the trigger's queue accepts its metadata.
        const config = loadConfig({
          QUEUES: trigger.metadata.queue,
          REDIS_URL: 'redis://redis:6379',
          QUEUE_NAME: `docs_${randomUUID().slice(0, 4)}`,
        });
        parseTriggerMetadata(
          trigger.metadata,
          {
            queues: config.metrics.queues,
            prefix: config.queue.prefix,
            patterns: config.metrics.queuePatterns,
          },
          { targetWaitSeconds: 30 },
        );
        expect(trigger.metadata.scalerAddress).toMatch(
          /^qscale-exporter\.[a-z0-9-]+\.svc(\.cluster\.local)?:6000$/,
        );
      }
    });
  }
});
