import { spawnSync } from 'node:child_process';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  loadRuleFile,
  readRepoFile as read,
  repoRoot as root,
  SUM_OVER_REPLICAS,
  type RuleFile,
} from '../harness/monitoring-files.js';

/** Runs a command from the repository root; spawn errors (a missing binary) are returned too. */
function run(command: string, args: string[]) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', timeout: 20_000 });
  return {
    status: result.status,
    stdout: result.stdout ?? '',
    output: `${result.error?.message ?? ''}${result.stdout ?? ''}${result.stderr ?? ''}`,
  };
}

const ALERTS = [
  'QscaleBacklogGrowing',
  'QscaleOldestJobTooOld',
  'QscaleBacklogWithoutWorkers',
  'QscaleWorkersSaturated',
  'QscaleJobFailureRatioHigh',
  'QscaleExporterRedisDown',
  'QscaleExporterAbsent',
  'QscaleRedisMemoryNearMax',
];

describe('monitoring/alerts.yaml', () => {
  const plain = loadRuleFile();
  const rules = plain.groups.flatMap((group) => group.rules);

  it('should pass `promtool check rules`', () => {
    const check = run('promtool', ['check', 'rules', 'monitoring/alerts.yaml']);
    expect(check.output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(check.status, check.output).toBe(0);
  });

  it('should pass its unit tests (`promtool test rules monitoring/alerts.test.yaml`)', () => {
    const test = run('promtool', ['test', 'rules', 'monitoring/alerts.test.yaml']);
    expect(test.status, test.output).toBe(0);
    expect(test.output).toContain('SUCCESS');
  });

  it('should have unit tests for every alert, firing and not firing', () => {
    const tests = parse(read('monitoring/alerts.test.yaml')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const alert of ALERTS) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} firing`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} not firing`,
      ).toBe(true);
    }
  });

  it('should have the qscale alerts, each with a severity, a summary and a troubleshooting command', () => {
    expect(plain.groups.map((group) => group.name)).toEqual(['qscale']);
    expect(rules.map((rule) => rule.alert)).toEqual(ALERTS);
    for (const rule of rules) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toMatch(/\S/);
      expect(rule.annotations.description, rule.alert).toMatch(/kubectl -n qscale /);
    }
  });

  it('should aggregate queue-level series with max, never sum, so exporter replicas count once', () => {
    for (const rule of rules) expect(rule.expr, rule.alert).not.toMatch(SUM_OVER_REPLICAS);
    // The unit tests prove it with two exporter instances; this guards against a quick edit.
    expect('sum by (queue) (rate(qscale_jobs_processed_total[5m]))').toMatch(SUM_OVER_REPLICAS);
  });
});

describe('k8s/monitoring', () => {
  it('should hold a PrometheusRule with exactly the groups of monitoring/alerts.yaml', () => {
    const rule = parse(read('k8s/monitoring/prometheus-rule.yaml')) as {
      metadata: { name: string; labels: Record<string, string> };
      spec: RuleFile;
    };
    const plain = loadRuleFile();
    expect(rule.metadata.name).toBe('qscale');
    expect(rule.metadata.labels.release).toBe('prometheus');
    expect(rule.spec.groups).toEqual(plain.groups);
    expect(() =>
      new PrometheusRule(rule as ConstructorParameters<typeof PrometheusRule>[0]).validate(),
    ).not.toThrow();
  });

  it('should render with kustomize into a valid ServiceMonitor and PrometheusRule in namespace qscale', () => {
    const rendered = run('kubectl', ['kustomize', 'k8s/monitoring']);
    expect(rendered.status, rendered.output).toBe(0);
    const objects = parseAllDocuments(rendered.stdout).map(
      (doc) =>
        doc.toJS() as {
          kind: string;
          metadata: { name: string; namespace: string };
          spec: unknown;
        },
    );
    expect(objects.map((o) => o.kind).sort()).toEqual(['PrometheusRule', 'ServiceMonitor']);
    for (const object of objects) expect(object.metadata.namespace).toBe('qscale');

    const monitor = objects.find((o) => o.kind === 'ServiceMonitor')!;
    expect(() =>
      new ServiceMonitor(
        monitor as unknown as ConstructorParameters<typeof ServiceMonitor>[0],
      ).validate(),
    ).not.toThrow();
    expect(monitor.spec).toMatchObject({
      selector: { matchLabels: { 'app.kubernetes.io/component': 'exporter' } },
      endpoints: [{ port: 'http-metrics', interval: '15s', path: '/metrics' }],
    });
    const rule = objects.find((o) => o.kind === 'PrometheusRule')!;
    expect(() =>
      new PrometheusRule(rule as ConstructorParameters<typeof PrometheusRule>[0]).validate(),
    ).not.toThrow();
  });
});
