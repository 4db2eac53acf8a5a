import { SETTINGS } from './settings.js';

/** The rows of the docs' Settings table: `[name, default, meaning]`, in declaration order. */
export function settingsRows(): [string, string, string][] {
  return Object.entries(SETTINGS).map(([name, s]) => [
    `\`${name}\``,
    s.shown,
    s.flag ? `${s.doc} (flag \`${s.flag.split(' ')[0]}\`)` : s.doc,
  ]);
}

/** The Settings table as Markdown (prettier aligns it). */
export function settingsTable(): string {
  return [
    '| variable | default | meaning |',
    '| --- | --- | --- |',
    ...settingsRows().map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

export const TABLE_START = '<!-- settings:start (npm run docs:settings writes this table) -->';
export const TABLE_END = '<!-- settings:end -->';

/** The cells of the table between the markers of a Markdown text; undefined without markers. */
export function documentedRows(markdown: string): string[][] | undefined {
  return tableRowsBetween(markdown, TABLE_START, TABLE_END);
}

/**
 * The body rows of the Markdown table between two marker lines, each cell trimmed (header and
 * separator left out, `\|` kept inside a cell); undefined without the markers.
 */
export function tableRowsBetween(
  markdown: string,
  startMarker: string,
  endMarker: string,
): string[][] | undefined {
  const start = markdown.indexOf(startMarker);
  const end = markdown.indexOf(endMarker);
  if (start < 0 || end < start) return undefined;
  return markdown
    .slice(start + startMarker.length, end)
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .slice(1)
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}
