import { request as httpRequest } from 'node:http';

/**
 * An upload whose body the test sends in pieces: `start` writes the part header and the first half
 * of a file (`slow.txt`); `finish()` sends the rest, or the test leaves the body hanging. `answer`
 * resolves with the status and body the API sent.
 */
export function startSlowUpload(
  port: number,
  headers: Record<string, string> = {},
): { answer: Promise<{ status: number; body: string }>; finish(): void } {
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/v1/files',
    headers: { 'content-type': 'multipart/form-data; boundary=XBOUNDARY', ...headers },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
  req.write(
    '--XBOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\n' +
      'Content-Type: text/plain\r\n\r\nfirst half of the file, ',
  );
  return { answer, finish: () => req.end('second half.\r\n--XBOUNDARY--\r\n') };
}

/** What a {@link trickleUpload} ended with. */
export interface TrickleResult {
  /** The answer's status; 0 when the connection ended without one (`error` says how). */
  status: number;
  body: string;
  /** From the first byte sent to the answer (or the connection's end), in ms. */
  ms: number;
  /** File bytes written to the socket before the answer came. */
  sentBytes: number;
  error?: string;
}

/**
 * An upload that keeps flowing: one `file` part of `totalBytes` sent at about `bytesPerSecond`, a
 * piece every 100 ms (never idle long enough for BODY_TIMEOUT_SECONDS), with a Content-Length.
 * It stops sending once the API answers.
 */
export function trickleUpload(
  port: number,
  options: { totalBytes: number; bytesPerSecond: number; headers?: Record<string, string> },
): Promise<TrickleResult> {
  const head = Buffer.from(
    '--XBOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\n' +
      'Content-Type: text/plain\r\n\r\n',
  );
  const tail = Buffer.from('\r\n--XBOUNDARY--\r\n');
  const started = Date.now();
  let sentBytes = 0;
  let answered = false;
  return new Promise<TrickleResult>((resolve) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/api/v1/files',
      headers: {
        'content-type': 'multipart/form-data; boundary=XBOUNDARY',
        'content-length': String(head.length + options.totalBytes + tail.length),
        ...options.headers,
      },
    });
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started, sentBytes }),
      );
    });
    req.on('error', (error) => {
      if (!answered) {
        resolve({ status: 0, body: '', ms: Date.now() - started, sentBytes, error: error.message });
      }
    });
    req.write(head);
    const piece = Math.max(1, Math.round(options.bytesPerSecond / 10));
    const timer = setInterval(() => {
      if (answered || req.destroyed) {
        clearInterval(timer);
        return;
      }
      const size = Math.min(piece, options.totalBytes - sentBytes);
      req.write(Buffer.alloc(size, 'a'));
      sentBytes += size;
      if (sentBytes >= options.totalBytes) {
        clearInterval(timer);
        req.end(tail);
      }
    }, 100);
  });
}
