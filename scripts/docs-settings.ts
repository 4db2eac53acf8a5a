// Writes what follows from the declarations in src/config/settings.ts:
//   npm run docs:settings
// - the Settings table of docs/settings.md;
// - the settings charts/qscale/values.schema.json allows under `config` (all but the chart's own).
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { settingsTable, TABLE_END, TABLE_START } from '../src/config/settings-table.js';
import { SETTINGS } from '../src/config/settings.js';
import { CHART_OWNED_SETTINGS } from '../harness/helm-chart.js';

const README = fileURLToPath(new URL('../docs/settings.md', import.meta.url));
const text = await readFile(README, 'utf8');
const start = text.indexOf(TABLE_START);
const end = text.indexOf(TABLE_END);
if (start < 0 || end < start) {
  throw new Error(
    `docs/settings.md has no ${TABLE_START} … ${TABLE_END} block to write the table into`,
  );
}
const updated = `${text.slice(0, start + TABLE_START.length)}\n\n${settingsTable()}\n\n${text.slice(end)}`;
const options = (await resolveConfig(README)) ?? {};
await writeFile(README, await format(updated, { ...options, filepath: README }));
console.log('docs/settings.md: Settings table written from src/config/settings.ts');

const SCHEMA = fileURLToPath(new URL('../charts/qscale/values.schema.json', import.meta.url));
const schema = JSON.parse(await readFile(SCHEMA, 'utf8')) as {
  properties: { config: { propertyNames: { enum: string[] } } };
};
schema.properties.config.propertyNames.enum = Object.keys(SETTINGS).filter(
  (name) => !CHART_OWNED_SETTINGS.includes(name),
);
const schemaOptions = (await resolveConfig(SCHEMA)) ?? {};
await writeFile(
  SCHEMA,
  await format(JSON.stringify(schema, null, 2), { ...schemaOptions, filepath: SCHEMA }),
);
console.log('charts/qscale/values.schema.json: the settings allowed under `config` written');
