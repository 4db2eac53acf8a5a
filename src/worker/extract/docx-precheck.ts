import { ExtractionError } from './extraction-error.js';
import { inflatedSize } from './inflated-size.js';

/** Limits a .docx (a ZIP archive) must meet before it is inflated. */
export interface DocxLimits {
  /** Sum of the uncompressed sizes the central directory declares, in bytes. */
  maxUncompressedBytes: number;
  /** Entries in the archive; Word writes a few dozen. */
  maxEntries: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_ENTRY_SIGNATURE = 0x02014b50;
const CENTRAL_ENTRY_SIZE = 46;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_COMMENT = 0xffff;
const MiB = 1024 * 1024;

const STORED = 0;
const DEFLATED = 8;

/**
 * Checks a .docx before mammoth inflates it: reads the ZIP central directory and throws an
 * {@link ExtractionError} when the archive declares more entries or more uncompressed bytes than
 * allowed. Declared sizes can lie, so the deflated entries are then inflated once, streamed and
 * thrown away, counting the real bytes against the same limit (inflated ArrayBuffers live outside
 * the heap the thread's memory limit caps). An archive this reader cannot make sense of is left
 * to the extractor, which reports it.
 */
export async function checkDocxArchive(
  data: Buffer,
  fileName: string,
  limits: DocxLimits,
): Promise<void> {
  const directory = findCentralDirectory(data);
  if (directory === undefined) return;
  const name = JSON.stringify(fileName);
  const tooLarge = () =>
    new ExtractionError(
      `${name} would inflate to more than ${Math.floor(limits.maxUncompressedBytes / MiB)} MB (DOCX_MAX_UNCOMPRESSED_MB)`,
    );
  if (directory.entries > limits.maxEntries) {
    throw new ExtractionError(
      `${name} has ${directory.entries} entries in its ZIP archive, more than the ${limits.maxEntries} a .docx may have`,
    );
  }
  let total = 0;
  let offset = directory.offset;
  const deflated: Buffer[] = [];
  for (let index = 0; index < directory.entries; index++) {
    if (offset + CENTRAL_ENTRY_SIZE > data.length) return;
    if (data.readUInt32LE(offset) !== CENTRAL_ENTRY_SIGNATURE) return;
    const method = data.readUInt16LE(offset + 10);
    const compressedSize = data.readUInt32LE(offset + 20);
    const localHeader = data.readUInt32LE(offset + 42);
    let size = data.readUInt32LE(offset + 24);
    const nameLength = data.readUInt16LE(offset + 28);
    const extraLength = data.readUInt16LE(offset + 30);
    const commentLength = data.readUInt16LE(offset + 32);
    if (size === 0xffffffff) {
      size = zip64UncompressedSize(data, offset + CENTRAL_ENTRY_SIZE + nameLength, extraLength);
    }
    total += size;
    if (total > limits.maxUncompressedBytes) throw tooLarge();
    if (method === DEFLATED && localHeader + 30 <= data.length) {
      const start =
        localHeader +
        30 +
        data.readUInt16LE(localHeader + 26) +
        data.readUInt16LE(localHeader + 28);
      deflated.push(data.subarray(start, start + compressedSize));
    } else if (method !== STORED) {
      return; // not something Word writes; mammoth reports it
    }
    offset += CENTRAL_ENTRY_SIZE + nameLength + extraLength + commentLength;
  }
  let budget = limits.maxUncompressedBytes;
  for (const entry of deflated) {
    budget -= await inflatedSize(entry, budget + 1, 'raw');
    if (budget < 0) throw tooLarge();
  }
}

function findCentralDirectory(data: Buffer): { entries: number; offset: number } | undefined {
  const lowest = Math.max(0, data.length - EOCD_SIZE - MAX_COMMENT);
  for (let at = data.length - EOCD_SIZE; at >= lowest; at--) {
    if (data.readUInt32LE(at) !== EOCD_SIGNATURE) continue;
    const entries = data.readUInt16LE(at + 10);
    const offset = data.readUInt32LE(at + 16);
    if (entries !== 0xffff && offset !== 0xffffffff) return { entries, offset };
    // ZIP64: the locator sits right before the classic record and points at the ZIP64 record.
    const locator = at - 20;
    if (locator < 0 || data.readUInt32LE(locator) !== ZIP64_LOCATOR_SIGNATURE) return undefined;
    const record = Number(data.readBigUInt64LE(locator + 8));
    if (record + 56 > data.length || data.readUInt32LE(record) !== ZIP64_EOCD_SIGNATURE) {
      return undefined;
    }
    return {
      entries: Number(data.readBigUInt64LE(record + 32)),
      offset: Number(data.readBigUInt64LE(record + 48)),
    };
  }
  return undefined;
}

/** The real uncompressed size of an entry whose 32-bit field says 0xFFFFFFFF. */
function zip64UncompressedSize(data: Buffer, start: number, length: number): number {
  const end = Math.min(start + length, data.length);
  for (let at = start; at + 4 <= end;) {
    const id = data.readUInt16LE(at);
    const size = data.readUInt16LE(at + 2);
    if (id === ZIP64_EXTRA_ID && at + 12 <= end) return Number(data.readBigUInt64LE(at + 4));
    at += 4 + size;
  }
  return Number.MAX_SAFE_INTEGER;
}
