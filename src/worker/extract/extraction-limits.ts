import type { FileType } from '../../queue/file-types.js';
import { checkDocxArchive } from './docx-precheck.js';
import { ExtractionError } from './extraction-error.js';
import { extractText } from './extract-text.js';

/** The limits checked inside the extraction thread, before and after the work. */
export interface ContentLimits {
  /** Most characters of text one file may yield (EXTRACT_MAX_CHARACTERS). */
  maxCharacters: number;
  /** Most bytes a .docx may declare it inflates to (DOCX_MAX_UNCOMPRESSED_MB). */
  docxMaxUncompressedBytes: number;
  /** Most entries a .docx archive may have. */
  docxMaxEntries: number;
}

/**
 * {@link extractText} with the content limits: a .docx is checked before it is inflated, and a
 * result longer than `maxCharacters` fails with its length — it is never cut short.
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
  }
  const text = await extractText(data, type, fileName);
  if (text.length > limits.maxCharacters) {
    throw new ExtractionError(
      `${JSON.stringify(fileName)} has ${text.length} characters of text, more than ${limits.maxCharacters} (EXTRACT_MAX_CHARACTERS)`,
    );
  }
  return text;
}
