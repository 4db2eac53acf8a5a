import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The repository root, with a trailing separator. */
export const repoRoot = fileURLToPath(new URL('../', import.meta.url));

export function readRepoFile(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}

/** The groups of `monitoring/alerts.yaml`, the plain Prometheus rule file. */
export function loadRuleFile(): RuleFile {
  return parse(readRepoFile('monitoring/alerts.yaml')) as RuleFile;
}

export function loadAlertRules(): AlertRule[] {
  return loadRuleFile().groups.flatMap((group) => group.rules);
}

export interface GrafanaDatasource {
  type?: string;
  uid?: string;
}

export interface GrafanaTarget {
  refId: string;
  datasource?: GrafanaDatasource;
  expr?: string;
  legendFormat?: string;
}

export interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  datasource?: GrafanaDatasource;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: GrafanaTarget[];
  /** Panels inside a row. */
  panels?: GrafanaPanel[];
}

export interface GrafanaVariable {
  name: string;
  type: string;
  query?: string | { query: string };
  datasource?: GrafanaDatasource;
  multi?: boolean;
  includeAll?: boolean;
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  templating: { list: GrafanaVariable[] };
  panels: GrafanaPanel[];
}

/** The file names under `dashboards/` that end in `.json`. */
export function dashboardFiles(): string[] {
  return readdirSync(join(repoRoot, 'dashboards'))
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => `dashboards/${name}`);
}

export function loadDashboard(file: string): GrafanaDashboard {
  return JSON.parse(readRepoFile(file)) as GrafanaDashboard;
}

/** Every panel, rows' nested panels included. */
export function allPanels(dashboard: GrafanaDashboard): GrafanaPanel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** Every target expression of every dashboard, named `<file> / <panel title> / <refId>`. */
export function dashboardExpressions(): { name: string; expr: string }[] {
  return dashboardFiles().flatMap((file) =>
    allPanels(loadDashboard(file)).flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        name: `${file} / ${panel.title} / ${target.refId}`,
        expr: target.expr ?? '',
      })),
    ),
  );
}

/**
 * A `sum` straight over a queue-level qscale series. Every exporter replica reports the same
 * queue-level numbers, so such a sum counts them once per replica; de-duplicate with
 * `max by (queue, …)` first. (`qscale_redis_up` and `qscale_scrape_*` are per replica.)
 */
export const SUM_OVER_REPLICAS =
  /\bsum\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(\s*(?:(?:rate|irate|increase|delta|deriv)\s*\(\s*)?qscale_(?:queue|job|workers?)_?/;
