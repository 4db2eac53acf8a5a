import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingError } from '../src/embedding/embedding-error.js';
import type { OpenAiEmbedderOptions } from '../src/embedding/openai-embedder-options.js';
import { OpenAiEmbedder } from '../src/embedding/openai-embedder.js';
import { dot, l2Normalize } from '../src/embedding/vector-math.js';

interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: { model: string; input: string[]; [key: string]: unknown };
}

/** Answers one request; returning `false` falls through to the default, successful answer. */
type Reply = (request: RecordedRequest, res: ServerResponse) => void | false;

/** The vector the fake model gives a text: distinct per text length, so order is checkable. */
function vectorFor(text: string): number[] {
  return [text.length, 1, 0.5];
}

function expected(text: string): Float32Array {
  return l2Normalize(Float32Array.from(vectorFor(text)));
}

function json(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function embeddings(input: string[]) {
  return {
    object: 'list',
    model: 'fake',
    data: input.map((text, index) => ({ object: 'embedding', index, embedding: vectorFor(text) })),
  };
}

const servers: { close(): Promise<void> }[] = [];

/**
 * A fake of the remote OpenAI-compatible embeddings API, which cannot run here. It records every
 * request and answers with `replies`, one per request in order; once they run out (or a reply
 * returns `false`) it answers like the real API with {@link vectorFor} vectors.
 */
async function fakeEmbeddingServer(...replies: Reply[]) {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedRequest['body'],
      };
      const reply = replies[requests.length];
      requests.push(request);
      if (reply?.(request, res) === false || !reply) {
        json(res, 200, embeddings(request.body.input));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle = {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

/** A reply that never answers, for timeouts and aborts. */
const hang: Reply = () => {};

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** Test defaults: tiny backoff so retries take milliseconds. */
function embedder(url: string, options: Partial<OpenAiEmbedderOptions> = {}) {
  return new OpenAiEmbedder({
    url,
    model: 'test-model',
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 20,
    ...options,
  });
}

async function rejection(promise: Promise<unknown>): Promise<EmbeddingError> {
  const error = await promise.then(
    () => expect.unreachable('expected a rejection'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EmbeddingError);
  return error as EmbeddingError;
}

describe('OpenAiEmbedder', () => {
  it('should send batches of batchSize with the model, input and bearer token', async () => {
    const server = await fakeEmbeddingServer();
    const texts = ['a', 'bb', 'ccc', 'dddd', 'eeeee'];
    const vectors = await embedder(server.url, { apiKey: 'sk-test', batchSize: 2 }).embed(texts);

    expect(server.requests).toHaveLength(3);
    expect(server.requests.map((r) => r.body)).toEqual([
      { model: 'test-model', input: ['a', 'bb'] },
      { model: 'test-model', input: ['ccc', 'dddd'] },
      { model: 'test-model', input: ['eeeee'] },
    ]);
    for (const request of server.requests) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/v1/embeddings');
      expect(request.headers.authorization).toBe('Bearer sk-test');
      expect(request.headers['content-type']).toBe('application/json');
    }
    expect(vectors).toEqual(texts.map(expected));
    for (const v of vectors) expect(dot(v, v)).toBeCloseTo(1, 5);
  });

  it('should send no Authorization header without an apiKey and keep a URL ending in /embeddings', async () => {
    const server = await fakeEmbeddingServer();
    await embedder(`${server.url}/custom/embeddings?api-version=1`).embed(['x']);
    expect(server.requests[0]!.path).toBe('/v1/custom/embeddings?api-version=1');
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('should send dimensions only when configured', async () => {
    const server = await fakeEmbeddingServer();
    await embedder(server.url, { dimensions: 3 }).embed(['x']);
    expect(server.requests[0]!.body).toEqual({ model: 'test-model', input: ['x'], dimensions: 3 });
  });

  it('should return vectors in input order when the server answers out of order', async () => {
    const server = await fakeEmbeddingServer((request, res) => {
      json(res, 200, { data: embeddings(request.body.input).data.reverse() });
    });
    const texts = ['one', 'three', 'fiftyfive'];
    expect(await embedder(server.url).embed(texts)).toEqual(texts.map(expected));
  });

  it('should make no request for no texts', async () => {
    const server = await fakeEmbeddingServer();
    expect(await embedder(server.url).embed([])).toEqual([]);
    expect(server.requests).toHaveLength(0);
  });

  it('should retry after a 429 and then succeed', async () => {
    const server = await fakeEmbeddingServer((_request, res) =>
      json(res, 429, { error: { message: 'Rate limit reached' } }, { 'retry-after': '0' }),
    );
    expect(await embedder(server.url).embed(['hello'])).toEqual([expected('hello')]);
    expect(server.requests).toHaveLength(2);
  });

  /**
   * Embeds one text with retryMaxDelayMs 150 against a server whose first answer is `status` with
   * `Retry-After: 30`; resolves with the server and how long the embedding took.
   */
  async function embedAfterRetryAfter(status: number, message: string) {
    const server = await fakeEmbeddingServer((_request, res) =>
      json(res, status, { error: { message } }, { 'retry-after': '30' }),
    );
    const started = performance.now();
    await embedder(server.url, { retryMaxDelayMs: 150 }).embed(['hello']);
    return { server, elapsed: performance.now() - started };
  }

  it('should wait as long as Retry-After asks, capped at retryMaxDelayMs', async () => {
    const { elapsed } = await embedAfterRetryAfter(429, 'slow down');
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(5000);
  });

  it('should honour Retry-After on a 5xx too, capped at retryMaxDelayMs', async () => {
    const { server, elapsed } = await embedAfterRetryAfter(503, 'warming up');
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(5000);
    expect(server.requests).toHaveLength(2);
  });

  it('should retry after a 503 and then succeed', async () => {
    const server = await fakeEmbeddingServer((_request, res) =>
      json(res, 503, { error: { message: 'overloaded' } }),
    );
    expect(await embedder(server.url).embed(['hello'])).toEqual([expected('hello')]);
    expect(server.requests).toHaveLength(2);
  });

  it('should give up after maxRetries retries of a 5xx', async () => {
    const unavailable: Reply = (_request, res) => json(res, 503, { error: { message: 'down' } });
    const server = await fakeEmbeddingServer(unavailable, unavailable, unavailable, unavailable);
    const error = await rejection(embedder(server.url, { maxRetries: 2 }).embed(['hello']));
    expect(error.status).toBe(503);
    expect(error.message).toMatch(/HTTP 503: down \(gave up after 3 attempts\)/);
    expect(server.requests).toHaveLength(3);
  });

  it('should retry a dropped connection and then succeed', async () => {
    const server = await fakeEmbeddingServer((_request, res) => {
      res.socket?.destroy();
    });
    expect(await embedder(server.url).embed(['hello'])).toEqual([expected('hello')]);
    expect(server.requests).toHaveLength(2);
  });

  it("should fail at once on a 400 with the server's message", async () => {
    const server = await fakeEmbeddingServer((_request, res) =>
      json(res, 400, {
        error: {
          message: "This model's maximum context length is 8192 tokens",
          type: 'invalid_request_error',
        },
      }),
    );
    const error = await rejection(embedder(server.url, { maxRetries: 3 }).embed(['hello']));
    expect(error.name).toBe('EmbeddingError');
    expect(error.status).toBe(400);
    expect(error.message).toContain('HTTP 400');
    expect(error.message).toContain("This model's maximum context length is 8192 tokens");
    expect(server.requests).toHaveLength(1);
  });

  it.each([408, 409, 413])(
    'should fail at once on a %i, which is not a 429 or 5xx',
    async (status) => {
      const server = await fakeEmbeddingServer((_request, res) =>
        json(res, status, { error: { message: 'not this time' } }, { 'retry-after': '0' }),
      );
      const error = await rejection(embedder(server.url, { maxRetries: 3 }).embed(['hello']));
      expect(error.status).toBe(status);
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(new RegExp(`HTTP ${status}: not this time$`));
      expect(server.requests).toHaveLength(1);
    },
  );

  it('should quote the error text of the common non-OpenAI error bodies', async () => {
    const server = await fakeEmbeddingServer(
      (_request, res) => json(res, 404, { error: 'model "nope" not found, try pulling it first' }),
      (_request, res) => json(res, 400, { object: 'error', message: 'input is too long' }),
      (_request, res) => json(res, 422, { detail: 'Input validation error' }),
    );
    const messages: string[] = [];
    for (let i = 0; i < 3; i++) {
      messages.push((await rejection(embedder(server.url).embed(['hello']))).message);
    }
    expect(messages).toEqual([
      expect.stringMatching(/HTTP 404: model "nope" not found, try pulling it first$/),
      expect.stringMatching(/HTTP 400: input is too long$/),
      expect.stringMatching(/HTTP 422: Input validation error$/),
    ]);
  });

  it('should fail at once on a 401 with a plain-text body', async () => {
    const server = await fakeEmbeddingServer((_request, res) => {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('Invalid API key');
    });
    const error = await rejection(embedder(server.url, { apiKey: 'sk-bad' }).embed(['hello']));
    expect(error.message).toMatch(/HTTP 401: Invalid API key/);
    expect(error.message).not.toContain('sk-bad');
    expect(server.requests).toHaveLength(1);
  });

  it('should time out a request that takes longer than timeoutMs, after retrying it', async () => {
    const server = await fakeEmbeddingServer(hang, hang);
    const error = await rejection(
      embedder(server.url, { timeoutMs: 100, maxRetries: 1 }).embed(['hello']),
    );
    expect(error.message).toMatch(/timed out after 100 ms/);
    expect(server.requests).toHaveLength(2);
  });

  it('should time out a response whose body stalls after the headers', async () => {
    const server = await fakeEmbeddingServer((_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data": [');
    });
    const error = await rejection(
      embedder(server.url, { timeoutMs: 100, maxRetries: 0 }).embed(['hello']),
    );
    expect(error.message).toMatch(/timed out after 100 ms$/);
    expect(server.requests).toHaveLength(1);
  });

  it("should reject with the caller's reason when the signal aborts", async () => {
    const server = await fakeEmbeddingServer(hang);
    const controller = new AbortController();
    const pending = embedder(server.url).embed(['hello'], controller.signal);
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    await expect(pending).rejects.toThrow('shutting down');
    expect(server.requests).toHaveLength(1);
  });

  it("should stop waiting for a retry when the caller's signal aborts", async () => {
    const server = await fakeEmbeddingServer((_request, res) =>
      json(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '30' }),
    );
    const controller = new AbortController();
    const started = performance.now();
    const pending = embedder(server.url, { retryMaxDelayMs: 30_000 }).embed(
      ['hello'],
      controller.signal,
    );
    setTimeout(() => controller.abort(new Error('shutting down')), 100);
    await expect(pending).rejects.toThrow('shutting down');
    expect(performance.now() - started).toBeLessThan(5000);
    expect(server.requests).toHaveLength(1);
  });

  it('should reject a response with the wrong number of vectors', async () => {
    const server = await fakeEmbeddingServer((request, res) => {
      json(res, 200, embeddings(request.body.input.slice(1)));
    });
    const error = await rejection(embedder(server.url).embed(['a', 'b', 'c']));
    expect(error.message).toMatch(/2 embeddings for 3 inputs/);
    expect(server.requests).toHaveLength(1);
  });

  it('should reject a response with inconsistent dimensions', async () => {
    const server = await fakeEmbeddingServer((request, res) => {
      const body = embeddings(request.body.input);
      body.data[1]!.embedding = [1, 2];
      json(res, 200, body);
    });
    const error = await rejection(embedder(server.url).embed(['a', 'b']));
    expect(error.message).toMatch(/embedding 1 has 2 dimensions, expected 3/);
  });

  it('should reject a response whose embedding holds a non-number', async () => {
    const server = await fakeEmbeddingServer((request, res) => {
      const body = embeddings(request.body.input) as { data: { embedding: unknown[] }[] };
      body.data[1]!.embedding[2] = 'NaN';
      json(res, 200, body);
    });
    const error = await rejection(embedder(server.url).embed(['a', 'b']));
    expect(error.message).toMatch(/is unusable: .*data\.1\.embedding\.2.*number/);
    expect(error.retryable).toBe(false);
  });

  it('should reject a response that is not JSON or has no data array', async () => {
    const server = await fakeEmbeddingServer(
      (_request, res) => void res.writeHead(200).end('<html>gateway says hi</html>'),
      (_request, res) => json(res, 200, { embeddings: [[1, 2, 3]] }),
    );
    const notJson = await rejection(embedder(server.url).embed(['a']));
    expect(notJson.message).toMatch(/is unusable: not JSON \(<html>gateway says hi<\/html>\)/);
    const noData = await rejection(embedder(server.url).embed(['a']));
    expect(noData.message).toMatch(/is unusable: .*data/);
    expect(server.requests).toHaveLength(2);
  });

  it('should reject a response whose indexes are out of range or repeat', async () => {
    const server = await fakeEmbeddingServer(
      (request, res) => {
        const body = embeddings(request.body.input);
        body.data[1]!.index = 2;
        json(res, 200, body);
      },
      (request, res) => {
        const body = embeddings(request.body.input);
        body.data[1]!.index = 0;
        json(res, 200, body);
      },
    );
    const outOfRange = await rejection(embedder(server.url).embed(['a', 'b']));
    expect(outOfRange.message).toMatch(/index 2 is out of range for 2 inputs/);
    const repeated = await rejection(embedder(server.url).embed(['a', 'b']));
    expect(repeated.message).toMatch(/index 0 appears twice/);
  });

  it('should throw a RangeError naming the option for invalid options', () => {
    expect(() => embedder('http://localhost/v1', { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => embedder('ftp://localhost/v1')).toThrow(/url/);
    expect(() => embedder('http://localhost/v1', { maxRetries: -1 })).toThrow(RangeError);
  });
});
