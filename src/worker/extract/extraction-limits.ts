import type { FileType } from '../../pipeline/file-types.js';
import { chunkText, type ChunkOptions } from '../chunker.js';
import { checkDocxArchive } from './docx-precheck.js';
import { ExtractionError } from './extraction-error.js';
import { extractText } from './extract-text.js';
import { checkPdfStreams } from './pdf-precheck.js';

/** The limits checked inside the extraction thread, before, during and after the work. */
export interface ContentLimits {
  /** Most characters of text one file may yield (EXTRACT_MAX_CHARACTERS). */
  maxCharacters: number;
  /** Most chunks one file may be cut into (MAX_CHUNKS_PER_FILE). */
  maxChunks: number;
  /** Most bytes a .docx may declare it inflates to (DOCX_MAX_UNCOMPRESSED_MB). */
  docxMaxUncompressedBytes: number;
  /** Most entries a .docx archive may have. */
  docxMaxEntries: number;
  /** Most pages a PDF may have (PDF_MAX_PAGES). */
  pdfMaxPages: number;
  /** Most bytes a PDF's compressed streams may inflate to (PDF_MAX_INFLATED_MB). */
  pdfMaxInflatedBytes: number;
}

/** A file's text, cut into chunks. */
export interface ChunkedText {
  /** Characters of the extracted text. */
  characters: number;
  chunks: string[];
}

/**
 * {@link extractText} with the content limits: a .docx and a PDF are checked before they are
 * inflated, a PDF's pages are counted before they are read, and a result longer than
 * `maxCharacters` fails with its length — it is never cut short.
 */
export async function extractWithinLimits(
  data: Buffer,
  type: FileType,
  fileName: string,
  limits: ContentLimits,
): Promise<string> {
  if (type === 'docx') {
    await checkDocxArchive(data, fileName, {
      maxUncompressedBytes: limits.docxMaxUncompressedBytes,
      maxEntries: limits.docxMaxEntries,
    });
  } else if (type === 'pdf') {
    await checkPdfStreams(data, fileName, { maxInflatedBytes: limits.pdfMaxInflatedBytes });
  }
  const text = await extractText(data, type, fileName, {
    pdfMaxPages: limits.pdfMaxPages,
    maxCharacters: limits.maxCharacters,
  });
  if (text.length > limits.maxCharacters) {
    throw new ExtractionError(
      `${JSON.stringify(fileName)} has ${text.length} characters of text, more than ${limits.maxCharacters} (EXTRACT_MAX_CHARACTERS)`,
    );
  }
  return text;
}

/**
 * {@link extractWithinLimits}, then the text cut into chunks; more than `maxChunks` fails with the
 * count — a file is never stored in part.
 */
export async function chunkWithinLimits(
  data: Buffer,
  type: FileType,
  fileName: string,
  limits: ContentLimits,
  chunking: ChunkOptions,
): Promise<ChunkedText> {
  const text = await extractWithinLimits(data, type, fileName, limits);
  const chunks = chunkText(text, chunking);
  if (chunks.length > limits.maxChunks) {
    throw new ExtractionError(
      `${JSON.stringify(fileName)} makes ${chunks.length} chunks, more than ${limits.maxChunks} (MAX_CHUNKS_PER_FILE)`,
    );
  }
  return { characters: text.length, chunks };
}
