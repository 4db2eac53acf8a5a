// The entry of an extraction thread (see ExtractionSandbox): one request at a time, by message.
import { parentPort, workerData } from 'node:worker_threads';
import type { FileType } from '../../pipeline/file-types.js';
import type { ChunkOptions } from '../chunker.js';
import type { ChunkedText, ContentLimits } from './extraction-limits.js';
import { chunkWithinLimits, extractWithinLimits } from './extraction-limits.js';

export interface ExtractRequest {
  data: Uint8Array<ArrayBuffer>;
  type: FileType;
  fileName: string;
  /** Given: the reply carries the text cut into chunks (ChunkedText) instead of the text. */
  chunking?: ChunkOptions;
}

export type ExtractReply =
  | { ok: true; result: string | ChunkedText }
  | { ok: false; name: string; message: string }
  /** Sent once, when the thread has loaded its code: time limits start from here. */
  | { ready: true };

const port = parentPort;
if (port === null) {
  throw new Error('extract-worker must run in a worker thread (see ExtractionSandbox)');
}
const limits = workerData as ContentLimits;

// Ready: this module and its imports are loaded (the HTML, DOCX and PDF parsers are loaded by the
// first file of their type).
port.postMessage({ ready: true } satisfies ExtractReply);

port.on('message', (request: ExtractRequest) => {
  const data = Buffer.from(request.data.buffer, request.data.byteOffset, request.data.byteLength);
  const work: Promise<string | ChunkedText> = request.chunking
    ? chunkWithinLimits(data, request.type, request.fileName, limits, request.chunking)
    : extractWithinLimits(data, request.type, request.fileName, limits);
  work.then(
    (result) => port.postMessage({ ok: true, result } satisfies ExtractReply),
    (err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      port.postMessage({
        ok: false,
        name: error.name,
        message: error.message,
      } satisfies ExtractReply);
    },
  );
});
