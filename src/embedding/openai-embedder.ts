import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import type { Embedder } from './embedder.js';
import { EmbeddingError } from './embedding-error.js';
import { l2Normalize } from './vector-math.js';

export interface OpenAiEmbedderOptions {
  /**
   * Base URL of an OpenAI-compatible API such as `https://api.openai.com/v1`; requests go to
   * `${url}/embeddings`. A URL whose path already ends with `/embeddings` is used as it is (query
   * strings are kept).
   */
  url: string;
  /**
   * Model name sent with every request.
   * @defaultValue 'text-embedding-3-small'
   */
  model?: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set and not empty. */
  apiKey?: string;
  /**
   * Asks the server for vectors of this length (the `dimensions` request field, supported by
   * OpenAI's text-embedding-3 models but rejected by many other servers); responses of any other
   * length are then refused. When unset the field is not sent and the model's own length is used.
   * @defaultValue undefined
   */
  dimensions?: number;
  /**
   * Most texts per request (OpenAI accepts up to 2048).
   * @defaultValue 64
   */
  batchSize?: number;
  /**
   * Time allowed for one request, response body included, in milliseconds.
   * @defaultValue 30000
   */
  timeoutMs?: number;
  /**
   * Retries of one request after a 429, a 5xx, a network error or a timeout.
   * @defaultValue 5
   */
  maxRetries?: number;
  /**
   * Delay before the first retry; it doubles on each further retry, with jitter.
   * @defaultValue 500
   */
  retryBaseDelayMs?: number;
  /**
   * Longest delay between two attempts, `Retry-After` included.
   * @defaultValue 20000
   */
  retryMaxDelayMs?: number;
}

type ResolvedOptions = Required<Omit<OpenAiEmbedderOptions, 'apiKey' | 'dimensions'>> &
  Pick<OpenAiEmbedderOptions, 'apiKey' | 'dimensions'>;

const defaults = {
  model: 'text-embedding-3-small',
  batchSize: 64,
  timeoutMs: 30_000,
  maxRetries: 5,
  retryBaseDelayMs: 500,
  retryMaxDelayMs: 20_000,
};

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

/** `Retry-After` (seconds or HTTP date) or OpenAI's `retry-after-ms`, in milliseconds. */
function retryAfterMs(headers: Headers): number | undefined {
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * An {@link Embedder} for any OpenAI-compatible `/embeddings` endpoint (OpenAI, Azure OpenAI behind a
 * gateway, vLLM, Ollama, text-embeddings-inference, LiteLLM, …).
 *
 * Texts are sent in batches of `batchSize`, one batch at a time. Each request has its own
 * `timeoutMs`; a 429, a 5xx, a network error or a timeout is retried up to `maxRetries` times with
 * exponential backoff and jitter, waiting at least as long as a `Retry-After` header asks (both
 * capped at `retryMaxDelayMs`). Any other 4xx fails at once. Failures are {@link EmbeddingError}s
 * quoting the status and the server's message; an abort of the caller's signal rejects with its
 * reason. Every returned vector is L2-normalised.
 */
export class OpenAiEmbedder implements Embedder {
  readonly provider = 'openai' as const;
  readonly model: string;
  readonly #options: ResolvedOptions;
  readonly #url: URL;
  /** Endpoint for messages: no credentials, no query string. */
  readonly #endpoint: string;
  #dimensions: number | undefined;

  constructor(options: OpenAiEmbedderOptions) {
    const resolved: ResolvedOptions = { ...defaults, ...options };
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

  async #embedBatch(batch: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const { maxRetries, retryBaseDelayMs, retryMaxDelayMs } = this.#options;
    let attempts = 0;
    try {
      return await pRetry(
        () => {
          attempts++;
          return this.#request(batch, signal);
        },
        {
          retries: maxRetries,
          // p-retry cannot honour Retry-After, so its own delay is off and the wait happens in
          // shouldRetry, which p-retry calls only when another attempt will follow.
          minTimeout: 0,
          signal,
          shouldRetry: async ({ error, retriesConsumed }) => {
            if (!(error instanceof EmbeddingError) || !error.retryable) return false;
            const backoff = retryBaseDelayMs * 2 ** retriesConsumed;
            const jittered = backoff / 2 + (Math.random() * backoff) / 2;
            const delay = Math.min(retryMaxDelayMs, Math.max(jittered, error.retryAfterMs ?? 0));
            if (delay > 0) await sleep(delay, undefined, { signal });
            return true;
          },
        },
      );
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof EmbeddingError && error.retryable && attempts > 1) {
        throw new EmbeddingError(`${error.message} (gave up after ${attempts} attempts)`, {
          ...(error.status !== undefined && { status: error.status }),
          ...(error.retryAfterMs !== undefined && { retryAfterMs: error.retryAfterMs }),
          retryable: true,
          cause: error,
        });
      }
      throw error;
    }
  }

  /** One attempt: POSTs the batch and returns its vectors, or throws an {@link EmbeddingError}. */
  async #request(batch: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const { apiKey, dimensions, model, timeoutMs } = this.#options;
    const timeout = AbortSignal.timeout(timeoutMs);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (apiKey) headers['authorization'] = `Bearer ${apiKey}`;
    let response: Response;
    let body: string;
    try {
      response = await fetch(this.#url, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model,
          input: batch,
          ...(dimensions !== undefined && { dimensions }),
        }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      body = await response.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new EmbeddingError(
          `Embedding request to ${this.#endpoint} timed out after ${timeoutMs} ms`,
          { retryable: true, cause: error },
        );
      }
      const cause =
        error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      const message = error instanceof Error ? error.message : String(error);
      throw new EmbeddingError(
        `Embedding request to ${this.#endpoint} failed: ${message}${cause}`,
        { retryable: true, cause: error },
      );
    }

    if (!response.ok) {
      const status = response.status;
      const retryable = status === 429 || status >= 500;
      const wait = retryable ? retryAfterMs(response.headers) : undefined;
      throw new EmbeddingError(
        `Embedding request to ${this.#endpoint} failed with HTTP ${status}: ${serverMessage(body)}`,
        { status, retryable, ...(wait !== undefined && { retryAfterMs: wait }) },
      );
    }
    return this.#parse(body, batch.length);
  }

  #parse(body: string, expected: number): Float32Array[] {
    const fail = (problem: string) =>
      new EmbeddingError(`Embedding response from ${this.#endpoint} is unusable: ${problem}`);
    let data: unknown;
    try {
      data = (JSON.parse(body) as { data?: unknown } | null)?.data;
    } catch {
      throw fail(`not JSON (${serverMessage(body)})`);
    }
    if (!Array.isArray(data)) throw fail('no "data" array');
    if (data.length !== expected) throw fail(`${data.length} embeddings for ${expected} inputs`);

    const vectors = new Array<Float32Array | undefined>(expected);
    let dimensions = this.#dimensions;
    data.forEach((item: unknown, position) => {
      const { index = position, embedding } = (item ?? {}) as {
        index?: unknown;
        embedding?: unknown;
      };
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= expected) {
        throw fail(`index ${JSON.stringify(index)} is out of range for ${expected} inputs`);
      }
      if (vectors[index] !== undefined) throw fail(`index ${index} appears twice`);
      if (!Array.isArray(embedding) || embedding.length === 0) {
        throw fail(`item ${position} has no "embedding" array of numbers`);
      }
      dimensions ??= embedding.length;
      if (embedding.length !== dimensions) {
        throw fail(`embedding ${index} has ${embedding.length} dimensions, expected ${dimensions}`);
      }
      const vector = new Float32Array(dimensions);
      for (let i = 0; i < dimensions; i++) {
        const x: unknown = embedding[i];
        if (typeof x !== 'number' || !Number.isFinite(x)) {
          throw fail(`embedding ${index} holds a non-number (${JSON.stringify(x)})`);
        }
        vector[i] = x;
      }
      vectors[index] = l2Normalize(vector);
    });
    // Every index is in range and none repeats, so all `expected` slots are filled.
    this.#dimensions = dimensions;
    return vectors as Float32Array[];
  }
}
