// Writes the Values table of charts/qscale/README.md from values.schema.json and values.yaml:
//   npm run docs:chart
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import {
  chartValuesTable,
  VALUES_TABLE_END,
  VALUES_TABLE_START,
} from '../harness/chart-values-table.js';

const README = fileURLToPath(new URL('../charts/qscale/README.md', import.meta.url));
const text = await readFile(README, 'utf8');
const start = text.indexOf(VALUES_TABLE_START);
const end = text.indexOf(VALUES_TABLE_END);
if (start < 0 || end < start) {
  throw new Error(
    `charts/qscale/README.md has no ${VALUES_TABLE_START} … ${VALUES_TABLE_END} block`,
  );
}
const updated = `${text.slice(0, start + VALUES_TABLE_START.length)}\n\n${chartValuesTable()}\n\n${text.slice(end)}`;
const options = (await resolveConfig(README)) ?? {};
await writeFile(README, await format(updated, { ...options, filepath: README }));
console.log(
  'charts/qscale/README.md: Values table written from values.schema.json and values.yaml',
);
