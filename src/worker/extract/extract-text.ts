import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { HtmlToTextOptions } from 'html-to-text';
import type { FileType } from '../../pipeline/file-types.js';
import { ExtractionError } from './extraction-error.js';

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');
type Mammoth = typeof import('mammoth');

/** Limits checked while a file is read (see also extraction-limits.ts). */
export interface ExtractTextOptions {
  /** A PDF with more pages fails before any page is read. */
  pdfMaxPages?: number;
  /** Reading a PDF stops, failing, as soon as its text grows past this many characters. */
  maxCharacters?: number;
}

/**
 * Turns a file's bytes into plain text. Throws {@link ExtractionError} when the content cannot be
 * parsed as the given type or breaks a limit of `options`; an empty result is not an error (the
 * caller decides what that means).
 */
export async function extractText(
  data: Buffer,
  type: FileType,
  fileName: string,
  options: ExtractTextOptions = {},
): Promise<string> {
  switch (type) {
    case 'text':
    case 'markdown':
    case 'csv':
      return decodeUtf8(data, fileName);
    case 'json':
      return extractJson(data, fileName);
    case 'html':
      return extractHtml(data, fileName, await loadHtmlToText());
    case 'pdf':
      return extractPdf(data, fileName, options);
    case 'docx':
      return extractDocx(data, fileName);
    default: {
      const unknown: never = type;
      throw new TypeError(`extractText: unsupported file type ${JSON.stringify(unknown)}`);
    }
  }
}

/** The file name as it appears in messages: quoted, with control characters escaped. */
function quote(fileName: string): string {
  return JSON.stringify(fileName);
}

function causeOf(cause: unknown): ErrorOptions | undefined {
  return cause === undefined ? undefined : { cause };
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// Stateless between calls: decode() without { stream: true } starts afresh each time.
// The default ignoreBOM: false strips a leading UTF-8 BOM.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

function decodeUtf8(data: Buffer, fileName: string): string {
  if (data.includes(0)) {
    throw new ExtractionError(
      `${quote(fileName)} is not a UTF-8 text file: it contains NUL bytes (binary data or UTF-16 text)`,
    );
  }
  try {
    return strictUtf8.decode(data);
  } catch (err) {
    throw new ExtractionError(
      `${quote(fileName)} is not a UTF-8 text file: it contains bytes that are not valid UTF-8`,
      { cause: err },
    );
  }
}

function extractJson(data: Buffer, fileName: string): string {
  const source = decodeUtf8(data, fileName);
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (err) {
    throw new ExtractionError(`${quote(fileName)} is not valid JSON: ${reasonOf(err)}`, {
      cause: err,
    });
  }
  return jsonToText(value, fileName);
}

const PLAIN_KEY = /^[\p{L}\p{N}_$-]+$/u;

/**
 * Most levels of nested arrays and objects a JSON file may have. Each leaf's line names its whole
 * path, so a deeper file would be stored as its brackets repeated (200 000 levels made 750 chunks
 * of `[0][0]…`); like HTML's, such a file fails.
 */
export const JSON_MAX_DEPTH = 512;

/**
 * One line per leaf, `path.to.key: value` with array indices as `[0]`, so keys and string
 * values are searchable. Empty objects and arrays are leaves (`key: {}`), so their keys stay.
 * Iterative rather than recursive: JSON.parse accepts nesting deep enough to overflow the stack.
 */
function jsonToText(root: unknown, fileName: string): string {
  const lines: string[] = [];
  const pending: Array<[path: string, value: unknown, depth: number]> = [['', root, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [path, value, depth] = next;
    if (depth > JSON_MAX_DEPTH) {
      throw new ExtractionError(
        `${quote(fileName)} nests values more than ${JSON_MAX_DEPTH} levels deep: its text cannot be read whole`,
      );
    }
    if (Array.isArray(value)) {
      if (value.length === 0) {
        lines.push(leaf(path, '[]'));
      }
      for (let index = value.length - 1; index >= 0; index--) {
        pending.push([`${path}[${index}]`, value[index], depth + 1]);
      }
    } else if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value);
      if (entries.length === 0) {
        lines.push(leaf(path, '{}'));
      }
      for (let index = entries.length - 1; index >= 0; index--) {
        const [key, child] = entries[index] as [string, unknown];
        const step = PLAIN_KEY.test(key) ? key : `[${JSON.stringify(key)}]`;
        pending.push([
          path === '' || step.startsWith('[') ? `${path}${step}` : `${path}.${step}`,
          child,
          depth + 1,
        ]);
      }
    } else {
      lines.push(leaf(path, String(value)));
    }
  }
  return lines.join('\n');
}

function leaf(path: string, text: string): string {
  return path === '' ? text : `${path}: ${text}`;
}

/** Most levels of nested elements an HTML file may have (html-to-text walks them recursively). */
const HTML_MAX_DEPTH = 512;
/**
 * What html-to-text puts in place of content nested deeper than HTML_MAX_DEPTH; never in real
 * text (it holds NUL characters), so its presence means the text would be incomplete.
 */
const HTML_TOO_DEEP = '\u0000qscale:too-deep\u0000';

const HTML_OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
  // html-to-text walks the tree recursively: without a cap, a few thousand nested elements
  // overflow the stack. Its default is to put "..." in place of deeper content, which would lose
  // text silently: the marker makes such a file fail instead (see extractHtml).
  // maxInputLength (default 16 MiB) cuts longer HTML off silently: read it whole instead (0: no
  // cap); the extraction sandbox's time, memory and character limits bound the work.
  limits: { maxDepth: HTML_MAX_DEPTH, maxInputLength: 0, ellipsis: HTML_TOO_DEEP },
  selectors: [
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'svg', format: 'skip' },
    { selector: 'template', format: 'skip' },
    { selector: 'noscript', format: 'skip' },
    // Keep the author's case, so the text matches what was written.
    ...(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'] as const).map((selector) => ({
      selector,
      options: { uppercase: false },
    })),
    // The default table format runs cells together ("NameAgeAnn3").
    { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false } },
  ],
};

// The parsers of HTML (~80 ms to import), DOCX (~100 ms) and PDF (below) are loaded the first
// time a file of their type arrives: a worker's first jobs do not wait for parsers they never use.
let htmlToTextCompiled: Promise<(html: string) => string> | undefined;

function loadHtmlToText(): Promise<(html: string) => string> {
  htmlToTextCompiled ??= import('html-to-text').then(({ compile }) => compile(HTML_OPTIONS));
  return htmlToTextCompiled;
}

let mammothModule: Promise<Mammoth> | undefined;

function loadMammoth(): Promise<Mammoth> {
  mammothModule ??= import('mammoth');
  return mammothModule;
}

function extractHtml(data: Buffer, fileName: string, htmlToText: (html: string) => string): string {
  // Web pages are often saved in legacy encodings: decode leniently rather than reject them.
  const html = lenientUtf8.decode(data);
  let text: string;
  try {
    text = htmlToText(html);
  } catch (err) {
    throw new ExtractionError(`${quote(fileName)} is not readable HTML: ${reasonOf(err)}`, {
      cause: err,
    });
  }
  if (text.includes(HTML_TOO_DEEP)) {
    throw new ExtractionError(
      `${quote(fileName)} nests elements more than ${HTML_MAX_DEPTH} levels deep: its text cannot be read whole`,
    );
  }
  return text;
}

let pdfjsModule: Promise<PdfJs> | undefined;

/** pdfjs is large (~100 ms to import): load it the first time a PDF arrives. */
function loadPdfJs(): Promise<PdfJs> {
  pdfjsModule ??= import('pdfjs-dist/legacy/build/pdf.mjs');
  return pdfjsModule;
}

// Font metrics and CMaps ship with pdfjs-dist. Without them pdfjs cannot read text in some
// CJK fonts and warns about the 14 standard fonts. In Node these are file paths, read with fs;
// pdfjs insists on a trailing slash.
const pdfjsRoot = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));
const STANDARD_FONT_DATA_URL = `${join(pdfjsRoot, 'standard_fonts')}/`;
const CMAP_URL = `${join(pdfjsRoot, 'cmaps')}/`;

// Acrobat accepts the header anywhere in the first 1024 bytes; so does pdfjs.
const PDF_HEADER = Buffer.from('%PDF-');
const PDF_HEADER_WINDOW = 1024;

async function extractPdf(
  data: Buffer,
  fileName: string,
  options: ExtractTextOptions,
): Promise<string> {
  const notReadable = (reason: string, cause?: unknown): ExtractionError =>
    new ExtractionError(`${quote(fileName)} is not a readable PDF: ${reason}`, causeOf(cause));

  if (!data.subarray(0, PDF_HEADER_WINDOW).includes(PDF_HEADER)) {
    throw notReadable('it does not start with a PDF header (%PDF-)');
  }
  const { getDocument } = await loadPdfJs();
  // In Node, pdfjs parses on the main thread ("fake worker", loaded from pdf.worker.mjs next to
  // pdf.mjs); no workerSrc setting is needed. verbosity 0 silences its console warnings.
  const loadingTask = getDocument({
    // A copy: pdfjs transfers (detaches) the buffer it is given.
    data: new Uint8Array(data),
    useSystemFonts: false,
    isEvalSupported: false,
    disableFontFace: true,
    standardFontDataUrl: STANDARD_FONT_DATA_URL,
    cMapUrl: CMAP_URL,
    cMapPacked: true,
    verbosity: 0,
  });
  try {
    const pdf = await loadingTask.promise;
    const maxPages = options.pdfMaxPages ?? Infinity;
    if (pdf.numPages > maxPages) {
      throw new ExtractionError(
        `${quote(fileName)} has ${pdf.numPages} pages, more than ${maxPages} (PDF_MAX_PAGES)`,
      );
    }
    const maxCharacters = options.maxCharacters ?? Infinity;
    let characters = 0;
    const pages: string[] = [];
    for (let pageNumber = 1; pageNumber <= pdf.numPages; pageNumber++) {
      const page = await pdf.getPage(pageNumber);
      const content = await page.getTextContent();
      page.cleanup();
      const lines: string[] = [];
      let line: string[] = [];
      for (const item of content.items) {
        if (!('str' in item)) {
          continue; // marked-content markers carry no text
        }
        if (item.str.trim() !== '') {
          line.push(item.str);
        }
        if (item.hasEOL) {
          lines.push(line.join(' '));
          line = [];
        }
      }
      lines.push(line.join(' '));
      const text = lines
        .map((text) => text.replace(/[ \t]+/g, ' ').trim())
        .join('\n')
        .trim();
      if (text !== '') {
        pages.push(text);
        characters += text.length + 2;
        if (characters > maxCharacters) {
          throw new ExtractionError(
            `${quote(fileName)} has more than ${maxCharacters} characters of text by page ${pageNumber} of ${pdf.numPages} (EXTRACT_MAX_CHARACTERS)`,
          );
        }
      }
    }
    return pages.join('\n\n');
  } catch (err) {
    if (err instanceof ExtractionError) throw err;
    if (err instanceof Error && err.name === 'PasswordException') {
      throw notReadable('it is password-protected', err);
    }
    throw notReadable(reasonOf(err), err);
  } finally {
    // Destroys the document too, and frees the (fake) worker even when opening failed.
    await loadingTask.destroy();
  }
}

// A .docx is a ZIP archive, which starts with a local file header.
const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

async function extractDocx(data: Buffer, fileName: string): Promise<string> {
  const notReadable = (reason: string, cause?: unknown): ExtractionError =>
    new ExtractionError(
      `${quote(fileName)} is not a readable DOCX (Word) document: ${reason}`,
      causeOf(cause),
    );

  if (!data.subarray(0, ZIP_SIGNATURE.length).equals(ZIP_SIGNATURE)) {
    throw notReadable('it is not a ZIP archive, as .docx files are');
  }
  try {
    const mammoth = await loadMammoth();
    const { value } = await mammoth.extractRawText({ buffer: data });
    return value;
  } catch (err) {
    throw notReadable(reasonOf(err), err);
  }
}
