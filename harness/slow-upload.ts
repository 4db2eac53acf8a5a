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
