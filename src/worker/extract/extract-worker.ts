// The entry of an extraction thread (see ExtractionSandbox): one request at a time, by message.
import { parentPort, workerData } from 'node:worker_threads';
import type { FileType } from '../../queue/file-types.js';
import type { ContentLimits } from './extraction-limits.js';
import { extractWithinLimits } from './extraction-limits.js';

export interface ExtractRequest {
  data: Uint8Array<ArrayBuffer>;
  type: FileType;
  fileName: string;
}

export type ExtractReply =
  { ok: true; text: string } | { ok: false; name: string; message: string };

const port = parentPort;
if (port === null) {
  throw new Error('extract-worker must run in a worker thread (see ExtractionSandbox)');
}
const limits = workerData as ContentLimits;

port.on('message', (request: ExtractRequest) => {
  const data = Buffer.from(request.data.buffer, request.data.byteOffset, request.data.byteLength);
  extractWithinLimits(data, request.type, request.fileName, limits).then(
    (text) => port.postMessage({ ok: true, text } satisfies ExtractReply),
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
