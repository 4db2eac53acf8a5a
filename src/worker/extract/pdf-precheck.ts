import { ExtractionError } from './extraction-error.js';
import { inflatedSize } from './inflated-size.js';

/** Limits a PDF must meet before pdfjs parses it. */
export interface PdfLimits {
  /** Sum of what the file's Flate-compressed streams (images aside) inflate to, in bytes. */
  maxInflatedBytes: number;
}

const MiB = 1024 * 1024;
const STREAM = Buffer.from('stream');
const END_STREAM = Buffer.from('endstream');
const OBJ = Buffer.from('obj');
/** How far back from `stream` its dictionary is looked for. */
const DICTIONARY_WINDOW = 64 * 1024;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Checks a PDF before pdfjs reads it: finds every Flate-compressed stream and inflates it once,
 * streamed and thrown away, counting the bytes against `maxInflatedBytes`. A few MB of deflated
 * zeros make a content stream of gigabytes, which pdfjs would inflate into ArrayBuffers outside the
 * heap an extraction thread's memory limit caps. Image streams are skipped: text extraction never
 * decodes them. Streams this scan cannot delimit are left to pdfjs (and the thread's limits).
 */
export async function checkPdfStreams(
  data: Buffer,
  fileName: string,
  limits: PdfLimits,
): Promise<void> {
  let budget = limits.maxInflatedBytes;
  for (const stream of flateStreams(data)) {
    budget -= await inflatedSize(stream, budget + 1, 'zlib');
    if (budget < 0) {
      throw new ExtractionError(
        `${JSON.stringify(fileName)} has compressed streams that inflate to more than ${Math.floor(limits.maxInflatedBytes / MiB)} MB (PDF_MAX_INFLATED_MB)`,
      );
    }
  }
}

/** The raw bytes of each FlateDecode stream that is not an image, in file order. */
function* flateStreams(data: Buffer): Generator<Buffer> {
  let at = data.indexOf(STREAM);
  while (at !== -1) {
    const isEnd = at >= 3 && data.toString('latin1', at - 3, at) === 'end';
    let start = at + STREAM.length;
    // The keyword is followed by CRLF or LF (a lone CR is tolerated, as readers do).
    if (data[start] === CR && data[start + 1] === LF) start += 2;
    else if (data[start] === LF || data[start] === CR) start += 1;
    else start = -1;
    if (isEnd || start === -1) {
      at = data.indexOf(STREAM, at + STREAM.length);
      continue;
    }
    const found = data.indexOf(END_STREAM, start);
    const end = found === -1 ? data.length : found;
    if (isFlateText(dictionaryBefore(data, at))) yield data.subarray(start, end);
    at = data.indexOf(STREAM, end + END_STREAM.length);
  }
}

/** The text between the object's `obj` keyword and `stream`: the stream's dictionary. */
function dictionaryBefore(data: Buffer, streamAt: number): string {
  const floor = Math.max(0, streamAt - DICTIONARY_WINDOW);
  const obj = data.lastIndexOf(OBJ, streamAt);
  return data.toString('latin1', Math.max(floor, obj === -1 ? floor : obj), streamAt);
}

function isFlateText(dictionary: string): boolean {
  return (
    /\/(?:FlateDecode|Fl)(?![A-Za-z])/.test(dictionary) &&
    !/\/Subtype\s*\/Image(?![A-Za-z])/.test(dictionary)
  );
}
