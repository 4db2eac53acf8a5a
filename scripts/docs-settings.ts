// Writes the Settings table of docs/settings.md from the declarations in src/config/settings.ts:
//   npm run docs:settings
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { settingsTable, TABLE_END, TABLE_START } from '../src/config/settings-table.js';

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
