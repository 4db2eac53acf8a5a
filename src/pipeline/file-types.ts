/**
 * The kinds of files the upload API accepts and the worker can turn into text.
 * Shared by both sides so they agree on what "supported" means.
 */
export type FileType = 'text' | 'markdown' | 'csv' | 'json' | 'html' | 'pdf' | 'docx';

export interface SupportedFileType {
  readonly type: FileType;
  /** Lower-case extensions with the leading dot; the first one is the one shown to users. */
  readonly extensions: readonly string[];
  /** Lower-case MIME types without parameters. */
  readonly mimeTypes: readonly string[];
}

export const SUPPORTED_FILE_TYPES: readonly SupportedFileType[] = Object.freeze([
  { type: 'text', extensions: ['.txt', '.text', '.log'], mimeTypes: ['text/plain'] },
  {
    type: 'markdown',
    extensions: ['.md', '.markdown'],
    mimeTypes: ['text/markdown', 'text/x-markdown'],
  },
  { type: 'csv', extensions: ['.csv'], mimeTypes: ['text/csv', 'application/csv', 'text/x-csv'] },
  { type: 'json', extensions: ['.json'], mimeTypes: ['application/json', 'text/json'] },
  {
    type: 'html',
    extensions: ['.html', '.htm'],
    mimeTypes: ['text/html', 'application/xhtml+xml'],
  },
  { type: 'pdf', extensions: ['.pdf'], mimeTypes: ['application/pdf', 'application/x-pdf'] },
  {
    type: 'docx',
    extensions: ['.docx'],
    mimeTypes: ['application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  },
] satisfies SupportedFileType[]);

// Maps rather than plain objects, so names like "__proto__" or "constructor" cannot match.
const TYPE_BY_EXTENSION = new Map<string, FileType>(
  SUPPORTED_FILE_TYPES.flatMap(({ type, extensions }) =>
    extensions.map((ext) => [ext, type] as const),
  ),
);
const TYPE_BY_MIME = new Map<string, FileType>(
  SUPPORTED_FILE_TYPES.flatMap(({ type, mimeTypes }) =>
    mimeTypes.map((mime) => [mime, type] as const),
  ),
);

// C0 controls and DEL.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/** A short list for error messages, e.g. ".txt, .md, .csv, .json, .html, .pdf, .docx". */
export function describeSupportedTypes(): string {
  return SUPPORTED_FILE_TYPES.map(({ extensions }) => extensions[0]).join(', ');
}

/**
 * Detects a file's type from its name, falling back to the MIME type when the name has no
 * known extension. Only the last extension of the base name counts; directories (either
 * separator), `../` and control characters in the name are ignored. Returns `undefined` for
 * unsupported files, including `application/octet-stream` without a known extension.
 */
export function detectFileType(fileName: string, mimeType?: string): FileType | undefined {
  return typeFromExtension(fileName) ?? typeFromMime(mimeType);
}

function typeFromExtension(fileName: string): FileType | undefined {
  const cleaned = fileName.replace(CONTROL_CHARACTERS, '');
  const baseName = cleaned
    .slice(Math.max(cleaned.lastIndexOf('/'), cleaned.lastIndexOf('\\')) + 1)
    .trim();
  const dot = baseName.lastIndexOf('.');
  // A leading dot marks a hidden file (".txt" has no extension), as in path.extname.
  if (dot <= 0) {
    return undefined;
  }
  return TYPE_BY_EXTENSION.get(baseName.slice(dot).toLowerCase());
}

function typeFromMime(mimeType: string | undefined): FileType | undefined {
  if (mimeType === undefined) {
    return undefined;
  }
  const essence = mimeType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return TYPE_BY_MIME.get(essence);
}
