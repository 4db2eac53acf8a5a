import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { SETTINGS } from '../src/config/settings.js';
import { parseTriggerMetadata } from '../src/keda/trigger-metadata.js';
import { chartValuesRows, documentedValuesRows } from '../harness/chart-values-table.js';
import {
  CHART_DIR,
  CHART_OWNED_SETTINGS,
  ciValuesFiles,
  helmNotes,
  helmRun,
  helmTemplate,
  type RenderOptions,
} from '../harness/helm-chart.js';
import { HELM_VERSION } from '../harness/helm.js';
import {
  REPO_ROOT,
  ingressAllowed,
  kustomize,
  podTemplates,
  validateObject,
  type KubeObject,
} from '../harness/kustomize.js';
import { checkManifests, containerEnv, podOf, roleOf } from '../harness/manifest-checks.js';

/** The helm that globalSetup fetched (harness/helm-global-setup.ts), or why there is none. */
function helm(): string {
  const provided = inject('helm');
  if ('error' in provided) throw new Error(provided.error);
  return provided.path;
}

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

const rendered = new Map<string, Promise<unknown[]>>();
/** `helm template` once per set of options in this file. */
function render(options: RenderOptions = {}): Promise<unknown[]> {
  const key = JSON.stringify(options);
  let objects = rendered.get(key);
  if (!objects) {
    objects = helmTemplate(helm(), options);
    rendered.set(key, objects);
  }
  return objects;
}

const kustomized = new Map<string, unknown[]>();
function kustomizeOnce(dir: string): unknown[] {
  let objects = kustomized.get(dir);
  if (!objects) {
    objects = kustomize(dir);
    kustomized.set(dir, objects);
  }
  return objects;
}

/** The ci/ file of a name: `keda` → charts/qscale/ci/keda-values.yaml. */
const ci = (name: string) => `${CHART_DIR}/ci/${name}-values.yaml`;

/** Labels the chart adds to what it shares with k8s/ (Helm's own, and the release's). */
const CHART_LABELS = [
  'helm.sh/chart',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/managed-by',
];

/**
 * An object as both renderings may differ in it by design: without the labels the chart adds
 * (also in selectors) and without its Helm annotations. Everything else must be equal.
 */
function normalize(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => normalize(item));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value).flatMap(([k, v]): [string, unknown][] => {
    if (['labels', 'matchLabels', 'selector'].includes(key) && CHART_LABELS.includes(k)) return [];
    // A changed config rolls the pods; `helm uninstall` keeps the data volumes.
    if (key === 'annotations' && (k.startsWith('checksum/') || k === 'helm.sh/resource-policy')) {
      return [];
    }
    const normalized = normalize(v, k);
    if (
      k === 'annotations' &&
      typeof normalized === 'object' &&
      Object.keys(normalized as object).length === 0
    ) {
      return [];
    }
    return [[k, normalized]];
  });
  return Object.fromEntries(entries);
}

const idOf = (object: unknown) => {
  validateObject(object);
  return `${object.kind}/${object.metadata.name}`;
};

/** The chart's ci/ values that render as an overlay of k8s/. */
const TWINS = [
  { values: 'keda', overlay: 'k8s/overlays/keda' },
  { values: 'keda-push', overlay: 'k8s/overlays/keda-push' },
  { values: 'hpa-cpu', overlay: 'k8s/overlays/hpa-cpu' },
  { values: 'hpa-external', overlay: 'k8s/overlays/hpa-external' },
  { values: 'single', overlay: 'k8s/overlays/single' },
];

describe('charts/qscale with a real helm', () => {
  it(`should run helm ${HELM_VERSION}`, async () => {
    const result = await helmRun(helm(), ['version', '--template', '{{.Version}}']);
    expect(result.stdout).toBe(HELM_VERSION);
  });

  it('should pass `helm lint --strict` with the defaults and with every ci/ values file', async () => {
    for (const file of [undefined, ...ciValuesFiles()]) {
      const result = await helmRun(helm(), [
        'lint',
        '--strict',
        CHART_DIR,
        ...(file ? ['--values', file] : []),
      ]);
      expect(result.code, `${file ?? 'defaults'}: ${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(result.stdout, file).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it('should have ci/ values files for KEDA, the HPAs, single and sidecar-only installs', () => {
    const names = ciValuesFiles().map((file) => file.replace(/^.*\/ci\/(.*)-values\.yaml$/, '$1'));
    expect(names).toEqual(
      expect.arrayContaining([...TWINS.map((t) => t.values), 'sidecar', 'monitoring']),
    );
  });
});

describe('charts/qscale rendered', () => {
  const targets = [
    { name: 'defaults', options: {} },
    ...ciValuesFiles().map((file) => ({ name: file, options: { valuesFiles: [file] } })),
    // Another release and namespace: nothing may assume `qscale`.
    {
      name: 'release "files" in namespace "docs"',
      options: { release: 'files', namespace: 'docs', valuesFiles: [ci('keda-push')] },
    },
  ];
  for (const target of targets) {
    describe(target.name, () => {
      checkManifests({
        name: target.name,
        render: () => render(target.options),
        namespace: (target.options as RenderOptions).namespace ?? 'qscale',
        createsNamespace: false,
        otherNamespaces: { 'ConfigMap/qscale-dashboard': 'monitoring' },
      });
    });
  }
});

describe('charts/qscale and the kustomize overlays', () => {
  it('should render the defaults as ci/keda-values.yaml', async () => {
    const strip = (objects: unknown[]) =>
      objects.filter((o) => !Secret.is(o)).map((o) => normalize(o));
    expect(strip(await render())).toEqual(strip(await render({ valuesFiles: [ci('keda')] })));
  });

  for (const twin of TWINS) {
    describe(`ci/${twin.values}-values.yaml and ${twin.overlay}`, () => {
      let chart: unknown[];
      let overlay: unknown[];
      beforeAll(async () => {
        chart = await render({ valuesFiles: [ci(twin.values)] });
        overlay = kustomizeOnce(twin.overlay);
      });

      it('should render the same objects, but the Namespace', () => {
        const ids = (objects: unknown[]) => objects.map(idOf).sort();
        expect(ids(chart)).toEqual(ids(overlay).filter((id) => !id.startsWith('Namespace/')));
      });

      it('should give every object the same spec: settings, probes, security, resources, scaling', () => {
        // Secrets differ by design (a placeholder there, a generated token here) and
        // NetworkPolicies are compared by what they let through, below.
        const compared = overlay.filter(
          (o) => !['Namespace', 'Secret', 'NetworkPolicy'].includes((o as KubeObject).kind),
        );
        expect(compared.length).toBeGreaterThan(5);
        for (const object of compared) {
          const id = idOf(object);
          const twinObject = chart.find((o) => idOf(o) === id);
          expect(normalize(twinObject), id).toEqual(normalize(object));
        }
      });

      it('should hold the same secret settings, a real API token in place of the placeholder', () => {
        const [mine] = chart.filter(Secret.is);
        const [theirs] = overlay.filter(Secret.is);
        expect(Object.keys(mine!.stringData ?? {}).sort()).toEqual(
          Object.keys(theirs!.stringData ?? {}).sort(),
        );
        expect(mine!.stringData?.REDIS_URL).toBe(theirs!.stringData?.REDIS_URL);
        expect(mine!.stringData?.API_TOKEN).toMatch(/^[A-Za-z0-9]{40}$/);
      });

      it('should let the same clients reach the same pods and ports', () => {
        const overlayPods = podTemplates(overlay);
        const chartPods = podTemplates(chart);
        /** A client, as each rendering sees it: a pod of its own, or one outside. */
        const sources = [
          ...overlayPods.map((pod) => ({
            name: pod.name,
            overlay: podOf(pod),
            chart: podOf(chartPods.find((t) => t.name === pod.name)!),
          })),
          ...[
            { namespace: 'default', labels: { app: 'curious' } },
            { namespace: 'qscale', labels: { app: 'other' } },
            { namespace: 'monitoring', labels: { app: 'prometheus' } },
            { namespace: 'keda', labels: { app: 'keda-operator' } },
          ].map((endpoint) => ({
            name: JSON.stringify(endpoint),
            overlay: endpoint,
            chart: endpoint,
          })),
        ];
        const chartPolicies = chart.filter(NetworkPolicy.is);
        const overlayPolicies = overlay.filter(NetworkPolicy.is);
        for (const pod of overlayPods) {
          const chartPod = podOf(chartPods.find((t) => t.name === pod.name)!);
          for (const source of sources) {
            for (const port of [6379, 8080, 9464, 6000]) {
              expect(
                ingressAllowed(chartPolicies, chartPod, source.chart, port),
                `${source.name} -> ${pod.name}:${port}`,
              ).toBe(ingressAllowed(overlayPolicies, podOf(pod), source.overlay, port));
            }
          }
        }
      });
    });
  }

  it('should render k8s/monitoring and the dashboard with ci/monitoring-values.yaml', async () => {
    const chart = await render({ valuesFiles: [ci('monitoring')] });
    const monitoring = kustomizeOnce('k8s/monitoring');
    for (const object of monitoring) {
      const id = idOf(object);
      expect(normalize(chart.find((o) => idOf(o) === id)), id).toEqual(normalize(object));
    }
    const dashboard = chart
      .filter(ConfigMap.is)
      .find((c) => c.metadata?.name === 'qscale-dashboard');
    expect(dashboard?.metadata?.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(JSON.parse(dashboard!.data!['qscale.json']!)).toEqual(
      JSON.parse(read('dashboards/qscale.json')),
    );
    // With a ServiceMonitor the pods lose their scrape annotations (checkManifests checks it).
  });

  it('should carry monitoring/alerts.yaml and dashboards/qscale.json unchanged in files/', () => {
    // Helm reads files inside the chart only: these are copies. After changing the originals:
    //   cp monitoring/alerts.yaml dashboards/qscale.json charts/qscale/files/
    expect(read(`${CHART_DIR}/files/alerts.yaml`)).toBe(read('monitoring/alerts.yaml'));
    expect(read(`${CHART_DIR}/files/qscale.json`)).toBe(read('dashboards/qscale.json'));
  });
});

describe('charts/qscale for another release, namespace and Redis', () => {
  it("should dial its own sidecar's Service and name its own objects in the alerts", async () => {
    const objects = await render({
      release: 'files',
      namespace: 'docs',
      valuesFiles: [ci('keda-push'), ci('monitoring')],
    });
    const [scaledObject] = objects.filter(ScaledObject.is);
    expect(scaledObject!.spec.scaleTargetRef.name).toBe('files-qscale-worker');
    expect(scaledObject!.spec.triggers[0]!.metadata.scalerAddress).toBe(
      'files-qscale-exporter.docs.svc.cluster.local:6000',
    );
    const service = objects
      .filter(Service.is)
      .find((s) => s.metadata?.name === 'files-qscale-exporter');
    expect(service?.metadata?.namespace).toBe('docs');
    const rules = JSON.stringify(objects.find((o) => (o as KubeObject).kind === 'PrometheusRule'));
    expect(rules).toContain('kubectl -n docs exec deploy/files-qscale-exporter');
    expect(rules).not.toMatch(/-n qscale |deploy\/qscale-|scaledobject qscale-/);
    for (const object of objects) {
      expect((object as KubeObject).metadata.name, idOf(object)).toMatch(/^files-qscale(-|$)/);
    }
  });

  it('should give every container of ci/sentinel-values.yaml the Sentinel, TLS and password settings', async () => {
    const objects = await render({ valuesFiles: [ci('sentinel')] });
    const templates = podTemplates(objects).filter((t) => t.spec.containers.some(roleOf));
    expect(templates.map((t) => t.name).sort()).toEqual([
      'qscale-app',
      'qscale-exporter',
      'qscale-worker',
    ]);
    for (const template of templates) {
      const container = template.spec.containers[0]!;
      const env = containerEnv(container, template, objects, {
        'redis-credentials': { password: 's3cr/t pass', 'sentinel-password': 'sentinel-s3cret' },
      });
      // Percent-encoded in the Secret as the docs say; here a raw one shows the expansion.
      expect(env.REDIS_URL).toBe('rediss://default:s3cr/t pass@redis.example.internal:6379/0');
      const config = loadConfig({
        ...env,
        REDIS_URL: env.REDIS_URL!.replace('s3cr/t pass', 's3cr%2Ft%20pass'),
      });
      expect(config.redis).toMatchObject({
        url: 'rediss://default:s3cr%2Ft%20pass@redis.example.internal:6379/0',
        sentinelName: 'qscale',
        sentinelPassword: 'sentinel-s3cret',
      });
      expect(config.redis.sentinels).toHaveLength(3);
    }
  });

  it('should take Redis Cluster nodes and the credentials of an existing Secret (ci/cluster-values.yaml)', async () => {
    const objects = await render({ valuesFiles: [ci('cluster')] });
    expect(objects.filter(Secret.is)).toEqual([]);
    const template = podTemplates(objects).find((t) => t.name === 'qscale-worker')!;
    const env = containerEnv(template.spec.containers[0]!, template, objects);
    expect(template.spec.containers[0]!.env).toContainEqual({
      name: 'REDIS_URL',
      valueFrom: { secretKeyRef: { name: 'qscale-credentials', key: 'REDIS_URL' } },
    });
    const config = loadConfig(env);
    expect(config.redis.clusterNodes).toHaveLength(3);
    expect(config.queue.prefix).toBe('{bull}');
  });
});

describe('charts/qscale in sidecar mode (ci/sidecar-values.yaml)', () => {
  let objects: unknown[];
  beforeAll(async () => {
    objects = await render({ valuesFiles: [ci('sidecar')] });
  });

  it('should run the sidecar alone, on the Redis URL of the watched app', () => {
    expect(objects.filter(Deployment.is).map((d) => d.metadata?.name)).toEqual(['qscale-exporter']);
    expect(objects.map((o) => (o as KubeObject).kind)).not.toContain('PersistentVolumeClaim');
    const [template] = podTemplates(objects);
    expect(template!.spec.containers[0]!.env).toContainEqual({
      name: 'REDIS_URL',
      valueFrom: { secretKeyRef: { name: 'my-app-redis', key: 'url' } },
    });
  });

  it("should scale each of the app's worker Deployments on one of its watched queues", () => {
    const [template] = podTemplates(objects);
    const env = containerEnv(template!.spec.containers[0]!, template!, objects);
    expect(env.QUEUES).toBe('bullmq:myapp/emails,rq:default,celery:celery');
    const scaledObjects = objects.filter(ScaledObject.is);
    expect(
      scaledObjects.map((s) => [s.spec.scaleTargetRef.name, s.spec.triggers[0]!.metadata.queue]),
    ).toEqual([
      ['email-worker', 'bullmq:myapp/emails'],
      ['rq-worker', 'rq:default'],
      ['celery-worker', 'celery:celery'],
    ]);
    const [email, rq, celery] = scaledObjects;
    expect(email!.spec.triggers[0]!.type).toBe('external-push');
    expect(rq!.spec.maxReplicaCount).toBe(10);
    expect(celery!.spec.minReplicaCount).toBe(1);
    expect(celery!.spec.triggers[0]!.metadata.targetWaitSeconds).toBe('60');
    for (const scaledObject of scaledObjects) {
      expect(scaledObject.spec.triggers[0]!.metadata.scalerAddress).toBe(
        'qscale-exporter.qscale.svc.cluster.local:6000',
      );
    }
    const config = loadConfig({ ...env, REDIS_URL: 'redis://app-redis:6379' });
    for (const scaledObject of scaledObjects) {
      const spec = parseTriggerMetadata(
        scaledObject.spec.triggers[0]!.metadata,
        {
          queues: config.metrics.queues,
          prefix: config.queue.prefix,
          patterns: config.metrics.queuePatterns,
        },
        { targetWaitSeconds: 30 },
      );
      expect(spec.mode).toBe('workers');
    }
  });
});

describe('values.schema.json', () => {
  const refused: { set: Record<string, string>; message: RegExp; why: string }[] = [
    {
      why: 'a mode that does not exist',
      set: { 'worker.autoscaling.mode': 'kedaa' },
      message: /worker\/autoscaling\/mode': value must be one of 'keda', 'hpa-cpu'/,
    },
    {
      why: 'a typo in a value',
      set: { 'worker.autoscalling.mode': 'keda' },
      message: /additional properties 'autoscalling' not allowed/,
    },
    {
      why: 'a setting that is not one',
      set: { 'config.TARGET_WAIT_SECOND': '30' },
      message: /invalid propertyName 'TARGET_WAIT_SECOND'/,
    },
    {
      why: 'a setting the chart owns',
      set: { 'config.REDIS_URL': 'redis://elsewhere:6379' },
      message: /invalid propertyName 'REDIS_URL'/,
    },
    {
      why: 'an API token too short to be one',
      set: { 'secrets.apiToken': 'changeme' },
      message: /secrets\/apiToken': .*does not match pattern/,
    },
    {
      why: 'a Redis URL of another scheme',
      set: { 'redis.mode': 'external', 'redis.url': 'http://redis:6379' },
      message: /redis\/url': .*does not match pattern/,
    },
    {
      why: "the sidecar on the chart's own Redis",
      set: { mode: 'sidecar' },
      message: /redis\/mode': value must be 'external'/,
    },
    {
      why: 'Redis Cluster without a hash tag in the prefix',
      set: { 'redis.mode': 'external', 'redis.clusterNodes[0]': 'redis-0:6379' },
      message: /QUEUE_PREFIX to a hash tag such as "\{bull\}"/,
    },
    {
      why: 'a ScaledObject on a queue the sidecar does not watch',
      set: {
        mode: 'sidecar',
        'redis.mode': 'external',
        'redis.url': 'redis://app-redis:6379',
        'queues[0]': 'rq:default',
        'sidecar.scaledObjects[0].deployment': 'rq-worker',
        'sidecar.scaledObjects[0].queue': 'rq:high',
      },
      message: /queue "rq:high" of deployment "rq-worker" is not one of queues \(rq:default\)/,
    },
    {
      why: 'an external Redis without an address',
      set: { 'redis.mode': 'external' },
      message: /redis.mode=external needs where Redis is/,
    },
  ];

  for (const { why, set, message } of refused) {
    it(`should refuse ${why} at helm template, saying what`, async () => {
      const result = await helmRun(helm(), [
        'template',
        'qscale',
        CHART_DIR,
        ...Object.entries(set).flatMap(([key, value]) => ['--set-string', `${key}=${value}`]),
      ]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(message);
    });
  }

  it('should allow under config every declared setting but those the chart owns (npm run docs:settings)', () => {
    const schema = JSON.parse(read(`${CHART_DIR}/values.schema.json`)) as {
      properties: { config: { propertyNames: { enum: string[] } } };
    };
    const owned = CHART_OWNED_SETTINGS.filter((name) => name in SETTINGS);
    expect(owned).toEqual(CHART_OWNED_SETTINGS);
    expect(schema.properties.config.propertyNames.enum).toEqual(
      Object.keys(SETTINGS).filter((name) => !owned.includes(name)),
    );
  });

  it('should be listed value by value in the chart README (npm run docs:chart)', () => {
    const documented = documentedValuesRows(read(`${CHART_DIR}/README.md`));
    expect(documented).toEqual(chartValuesRows());
    // Every leaf of values.yaml is in the table, under its own row or its parent's.
    const names = chartValuesRows().map(([name]) => name.replace(/`/g, ''));
    expect(names).toContain('worker.autoscaling.keda.trigger');
    expect(names).toContain('redis.passwordSecret');
  });
});

describe('NOTES.txt', () => {
  for (const [name, options] of [
    ['defaults', {}],
    ['single', { valuesFiles: [ci('single')] }],
    ['sidecar', { valuesFiles: [ci('sidecar')] }],
    ['hpa-external', { valuesFiles: [ci('hpa-external')] }],
  ] as [string, RenderOptions][]) {
    it(`should say what ${name} installed and name only objects it rendered in its commands`, async () => {
      const notes = await helmNotes(helm(), options);
      const objects = (await render(options)) as KubeObject[];
      expect(notes).toContain('is installed as release qscale in namespace qscale');
      const commands = notes.split('\n').filter((line) => line.trim().startsWith('kubectl'));
      expect(commands.length).toBeGreaterThan(1);
      for (const command of commands) {
        for (const [, kind, objectName] of command.matchAll(
          /\b(deploy|svc|secret)\/?\s*([a-z0-9-]+)/g,
        )) {
          const wanted = { deploy: 'Deployment', svc: 'Service', secret: 'Secret' }[kind!]!;
          expect(
            objects.some((o) => o.kind === wanted && o.metadata.name === objectName),
            `${command}: ${wanted} ${objectName}`,
          ).toBe(true);
        }
      }
    });
  }
});
