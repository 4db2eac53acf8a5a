import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './kustomize.js';
import { CHART_DIR } from './helm-chart.js';
import { tableRowsBetween } from '../src/config/settings-table.js';

// The Values table of charts/qscale/README.md, written from values.schema.json (what each value
// is) and values.yaml (its default) by `npm run docs:chart`; test/helm-chart.test.ts fails when the
// README differs.

export const VALUES_TABLE_START = '<!-- values:start (npm run docs:chart writes this table) -->';
export const VALUES_TABLE_END = '<!-- values:end -->';

interface SchemaNode {
  type?: string | string[];
  description?: string;
  enum?: unknown[];
  properties?: Record<string, SchemaNode>;
  $ref?: string;
}

interface Schema extends SchemaNode {
  definitions: Record<string, SchemaNode>;
}

/** `#/definitions/keda/properties/fallback` → that node. */
function resolve(schema: Schema, node: SchemaNode): SchemaNode {
  if (!node.$ref) return node;
  const target = node.$ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((at, step) => (at as Record<string, unknown>)[step], schema) as SchemaNode;
  return { ...resolve(schema, target), ...(node.description && { description: node.description }) };
}

/** Definitions shown as one row (their fields are Kubernetes' own, or a pair). */
const ONE_ROW = ['resources', 'hpaBehavior', 'secretKeyRef', 'kedaMetadata'];

function shown(value: unknown): string {
  if (value === undefined) return '';
  const text = JSON.stringify(value);
  return text.length > 48 ? '(see values.yaml)' : `\`${text.replace(/\|/g, '\\|')}\``;
}

/** Every value of the chart as `[path, default, meaning]`, in the schema's order. */
export function chartValuesRows(): [string, string, string][] {
  const schema = JSON.parse(
    readFileSync(join(REPO_ROOT, CHART_DIR, 'values.schema.json'), 'utf8'),
  ) as Schema;
  const defaults = parse(readFileSync(join(REPO_ROOT, CHART_DIR, 'values.yaml'), 'utf8')) as Record<
    string,
    unknown
  >;
  const rows: [string, string, string][] = [];
  const walk = (node: SchemaNode, path: string[], value: unknown) => {
    const oneRow = node.$ref && ONE_ROW.some((name) => node.$ref === `#/definitions/${name}`);
    const resolved = resolve(schema, node);
    if (resolved.properties && !oneRow) {
      for (const [key, child] of Object.entries(resolved.properties)) {
        walk(child, [...path, key], (value as Record<string, unknown> | undefined)?.[key]);
      }
      return;
    }
    const name = path.join('.');
    const meaning = resolved.description ?? '';
    if (meaning === '') throw new Error(`values.schema.json: ${name} has no description`);
    const allowed = resolved.enum
      ? ` (${resolved.enum.map((v) => `\`${String(v) || '""'}\``).join(', ')})`
      : '';
    rows.push([`\`${name}\``, shown(value), `${meaning}${allowed}`.replace(/\|/g, '\\|')]);
  };
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (key === 'global') continue;
    walk(child, [key], defaults[key]);
  }
  return rows;
}

/** The table as Markdown (prettier aligns it). */
export function chartValuesTable(): string {
  return [
    '| value | default | meaning |',
    '| --- | --- | --- |',
    ...chartValuesRows().map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** The rows between the markers of a Markdown text, each cell trimmed; undefined without them. */
export function documentedValuesRows(markdown: string): string[][] | undefined {
  return tableRowsBetween(markdown, VALUES_TABLE_START, VALUES_TABLE_END);
}
