import ky, { HTTPError, TimeoutError, type KyInstance } from 'ky';
import { z } from 'zod';
import type { Embedder } from './embedder.js';
import { EmbeddingError } from './embedding-error.js';
import {
  openAiEmbedderDefaults,
  type OpenAiEmbedderOptions,
  type ResolvedOpenAiEmbedderOptions,
} from './openai-embedder-options.js';
import { l2Normalize } from './vector-math.js';

/** Longest server error message quoted in an {@link EmbeddingError}. */
const MAX_SERVER_MESSAGE = 500;

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `OpenAiEmbedder: ${name} must be a whole number from ${min} to ${max}, got ${value}`,
    );
  }
}

/** `${base}/embeddings`, unless the path already ends with `/embeddings`. */
function embeddingsUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new RangeError(`OpenAiEmbedder: url must be an http:// or https:// URL, got "${base}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RangeError(`OpenAiEmbedder: url must be an http:// or https:// URL, got "${base}"`);
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (!path.endsWith('/embeddings')) url.pathname = `${path}/embeddings`;
  return url;
}

/** The error text from an OpenAI-style (`{error:{message}}`) or other common error body. */
function serverMessage(body: string): string {
  let message: unknown;
  try {
    const parsed = JSON.parse(body) as Record<string, unknown> | null;
    const error = parsed?.['error'];
    message =
      (typeof error === 'object' &&
        error !== null &&
        (error as Record<string, unknown>)['message']) ||
      error ||
      parsed?.['message'] ||
      parsed?.['detail'];
  } catch {
    // Not JSON: quote the body itself.
  }
  const text = (typeof message === 'string' ? message : message ? JSON.stringify(message) : body)
    .replace(/\s+/g, ' ')
    .trim();
  if (text === '') return 'no error message in the response';
  return text.length > MAX_SERVER_MESSAGE ? `${text.slice(0, MAX_SERVER_MESSAGE)}…` : text;
}

/** Statuses worth another attempt: rate limiting and every server error. */
const RETRY_STATUSES = [429, ...Array.from({ length: 100 }, (_, i) => 500 + i)];

/** The part of an embeddings response that is used; other fields are ignored. */
const embeddingsResponse = z.object({
  data: z.array(
    z.object({
      index: z.int().nonnegative().optional(),
      embedding: z.array(z.number()).nonempty(),
    }),
  ),
});

/** `fetch` that resolves once the body is in, so ky's per-attempt timeout and retries cover it. */
async function fetchWhole(input: Request | URL | string, init?: RequestInit): Promise<Response> {
  const response = await fetch(input, init);
  if (response.body === null) return response;
  const { status, statusText, headers } = response;
  return new Response(await response.arrayBuffer(), { status, statusText, headers });
}

/**
 * An {@link Embedder} for any OpenAI-compatible `/embeddings` endpoint (OpenAI, Azure OpenAI behind a
 * gateway, vLLM, Ollama, text-embeddings-inference, LiteLLM, …).
 *
 * Texts are sent in batches of `batchSize`, one batch at a time, with ky. Each request has its own
 * `timeoutMs`, response body included; a 429, a 5xx, a network error or a timeout is retried up to
 * `maxRetries` times with exponential backoff and jitter, or as late as a `Retry-After` header asks
 * (both capped at `retryMaxDelayMs`). Any other 4xx fails at once. Failures are
 * {@link EmbeddingError}s quoting the status and the server's message; an abort of the caller's
 * signal rejects with its reason. The response is checked with zod, and every returned vector is
 * L2-normalised.
 */
export class OpenAiEmbedder implements Embedder {
  readonly provider = 'openai' as const;
  readonly model: string;
  readonly #options: ResolvedOpenAiEmbedderOptions;
  readonly #url: URL;
  /** Endpoint for messages: no credentials, no query string. */
  readonly #endpoint: string;
  readonly #http: KyInstance;
  #dimensions: number | undefined;

  constructor(options: OpenAiEmbedderOptions) {
    const resolved: ResolvedOpenAiEmbedderOptions = { ...openAiEmbedderDefaults, ...options };
    this.#url = embeddingsUrl(resolved.url);
    this.#endpoint = `${this.#url.origin}${this.#url.pathname}`;
    if (typeof resolved.model !== 'string' || resolved.model.trim() === '') {
      throw new RangeError('OpenAiEmbedder: model must be a non-empty string');
    }
    checkInteger('batchSize', resolved.batchSize, 1, 2048);
    checkInteger('timeoutMs', resolved.timeoutMs, 1, 3_600_000);
    checkInteger('maxRetries', resolved.maxRetries, 0, 100);
    checkInteger('retryBaseDelayMs', resolved.retryBaseDelayMs, 0, 3_600_000);
    checkInteger('retryMaxDelayMs', resolved.retryMaxDelayMs, 0, 3_600_000);
    if (resolved.dimensions !== undefined) {
      checkInteger('dimensions', resolved.dimensions, 1, 65_536);
    }
    this.#options = resolved;
    this.model = resolved.model;
    this.#dimensions = resolved.dimensions;
    const { apiKey, retryBaseDelayMs, retryMaxDelayMs } = resolved;
    this.#http = ky.create({
      headers: { accept: 'application/json', ...(apiKey && { authorization: `Bearer ${apiKey}` }) },
      fetch: fetchWhole,
      timeout: resolved.timeoutMs,
      retry: {
        limit: resolved.maxRetries,
        methods: ['post'],
        statusCodes: RETRY_STATUSES,
        afterStatusCodes: RETRY_STATUSES,
        maxRetryAfter: retryMaxDelayMs,
        retryOnTimeout: true,
        delay: (attempt) => retryBaseDelayMs * 2 ** (attempt - 1),
        jitter: (delay) => delay / 2 + (Math.random() * delay) / 2,
        backoffLimit: retryMaxDelayMs,
      },
    });
  }

  /** Vector length: the configured `dimensions`, else what the server returned first, if anything yet. */
  get dimensions(): number | undefined {
    return this.#dimensions;
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    signal?.throwIfAborted();
    const vectors: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.#options.batchSize) {
      const batch = texts.slice(i, i + this.#options.batchSize);
      vectors.push(...(await this.#embedBatch(batch, signal)));
    }
    return vectors;
  }

  /** POSTs one batch, with retries, and returns its vectors or throws an {@link EmbeddingError}. */
  async #embedBatch(batch: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const { dimensions, model } = this.#options;
    let attempts = 0;
    let body: string;
    try {
      body = await this.#http
        .post(this.#url, {
          json: { model, input: batch, ...(dimensions !== undefined && { dimensions }) },
          signal,
          hooks: {
            beforeRequest: [
              (_request, _options, { retryCount }) => void (attempts = retryCount + 1),
            ],
          },
        })
        .text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw await this.#failure(error, attempts);
    }
    return this.#parse(body, batch.length);
  }

  /** The {@link EmbeddingError} for what ky threw once it stopped retrying. */
  async #failure(error: unknown, attempts: number): Promise<EmbeddingError> {
    const request = `Embedding request to ${this.#endpoint}`;
    let message: string;
    let status: number | undefined;
    if (error instanceof HTTPError) {
      status = error.response.status;
      const text = await error.response.text().catch(() => '');
      message = `${request} failed with HTTP ${status}: ${serverMessage(text)}`;
    } else if (error instanceof TimeoutError) {
      message = `${request} timed out after ${this.#options.timeoutMs} ms`;
    } else {
      const text = error instanceof Error ? error.message : String(error);
      const cause =
        error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      message = `${request} failed: ${text}${cause}`;
    }
    const retryable = status === undefined || status === 429 || status >= 500;
    if (retryable && attempts > 1) message += ` (gave up after ${attempts} attempts)`;
    return new EmbeddingError(message, {
      ...(status !== undefined && { status }),
      retryable,
      cause: error,
    });
  }

  #parse(body: string, expected: number): Float32Array[] {
    const fail = (problem: string) =>
      new EmbeddingError(`Embedding response from ${this.#endpoint} is unusable: ${problem}`);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw fail(`not JSON (${serverMessage(body)})`);
    }
    const parsed = embeddingsResponse.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw fail(`${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
    }
    const { data } = parsed.data;
    if (data.length !== expected) throw fail(`${data.length} embeddings for ${expected} inputs`);

    const vectors = new Array<Float32Array | undefined>(expected);
    let dimensions = this.#dimensions;
    for (const [position, { index = position, embedding }] of data.entries()) {
      if (index >= expected) throw fail(`index ${index} is out of range for ${expected} inputs`);
      if (vectors[index] !== undefined) throw fail(`index ${index} appears twice`);
      dimensions ??= embedding.length;
      if (embedding.length !== dimensions) {
        throw fail(`embedding ${index} has ${embedding.length} dimensions, expected ${dimensions}`);
      }
      vectors[index] = l2Normalize(Float32Array.from(embedding));
    }
    // Every index is in range and none repeats, so all `expected` slots are filled.
    this.#dimensions = dimensions;
    return vectors as Float32Array[];
  }
}
