import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './kustomize.js';

// The shell examples of the README and docs/, found the way a reader sees them: fenced blocks and
// commands in inline code. test/doc-examples.test.ts runs the ones that can run here and checks
// the others against the rendered manifests.
//
// A `<!-- doc: … -->` comment says how to take what follows it, up to and including the next
// fenced block (or, without one, up to the next heading):
//   <!-- doc: not run here: <why> -->   the block cannot run here (Docker, a cluster, a network)
//   <!-- doc: context single -->         its kubectl commands name the `single` layout's objects

/** The Markdown files whose examples are checked. */
export function docFiles(): string[] {
  const docs = readdirSync(join(REPO_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs, 'charts/qscale/README.md'];
}

export type DocContext = 'default' | 'single';

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  /** Why it is not run here, when a marker says so. */
  notRun?: string;
  context: DocContext;
}

export interface InlineCommand {
  file: string;
  line: number;
  command: string;
  context: DocContext;
}

const MARKER = /^\s*<!--\s*doc:\s*(.*?)\s*-->\s*$/;

interface Marker {
  notRun?: string;
  context?: DocContext;
}

function parseMarker(text: string, where: string): Marker {
  const notRun = /^not run here:\s*(.+)$/.exec(text);
  if (notRun) return { notRun: notRun[1]! };
  const context = /^context\s+(\S+)$/.exec(text);
  if (context && ['default', 'single'].includes(context[1]!)) {
    return { context: context[1] as DocContext };
  }
  throw new Error(`${where}: unknown doc marker "${text}" (not run here: <why> | context single)`);
}

/** Code spans of a line (`\|` in a table cell is a `|`). */
function inlineSpans(line: string): string[] {
  return [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\\\|/g, '|'));
}

/** Whether an inline span is a command to check (not just a name like `qscale start`). */
const INLINE_COMMAND = /^(kubectl|npx qscale|qscale) \S/;

/** Every fenced block and inline command of a Markdown file, with the markers that apply. */
export function parseDoc(file: string): { blocks: DocBlock[]; inline: InlineCommand[] } {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  const inline: InlineCommand[] = [];
  let marker: Marker = {};
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const markerText = MARKER.exec(line)?.[1];
    if (markerText !== undefined) {
      marker = parseMarker(markerText, `${file}:${i + 1}`);
      continue;
    }
    if (/^#{1,6} /.test(line)) {
      marker = {};
      continue;
    }
    const fence = /^(\s*)```(\S*)\s*$/.exec(line);
    if (fence) {
      const indent = fence[1]!.length;
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) {
        body.push(lines[j]!.slice(Math.min(indent, lines[j]!.search(/\S|$/))));
      }
      blocks.push({
        file,
        line: i + 1,
        lang: fence[2]!,
        code: body.join('\n'),
        ...(marker.notRun && { notRun: marker.notRun }),
        context: marker.context ?? 'default',
      });
      marker = {};
      i = j;
      continue;
    }
    for (const span of inlineSpans(line)) {
      if (!INLINE_COMMAND.test(span)) continue;
      // "`a` and `b`" in one cell are two commands; a pipe belongs to the command it is in.
      inline.push({ file, line: i + 1, command: span, context: marker.context ?? 'default' });
    }
  }
  return { blocks, inline };
}

/** A shell block's commands: continuations joined, blank lines and whole-line comments dropped. */
export function shellCommands(code: string): { command: string; comment: string }[] {
  const joined = code.replace(/\\\n\s*/g, '');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      // A trailing comment: `#` after two or more spaces, outside quotes.
      let quote: string | undefined;
      for (let k = 0; k < line.length; k++) {
        const c = line[k]!;
        if (quote) {
          if (c === quote) quote = undefined;
        } else if (c === "'" || c === '"') {
          quote = c;
        } else if (c === '#' && /\s{2,}$/.test(line.slice(0, k))) {
          return { command: line.slice(0, k).trim(), comment: line.slice(k + 1).trim() };
        }
      }
      return { command: line, comment: '' };
    });
}

/** Splits a command into words as a POSIX shell would (quotes, no expansion). */
export function shellWords(command: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: string | undefined;
  let inWord = false;
  for (const c of command) {
    if (quote) {
      if (c === quote) quote = undefined;
      else current += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}
