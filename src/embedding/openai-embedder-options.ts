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

/** The options with their defaults applied. */
export type ResolvedOpenAiEmbedderOptions = Required<
  Omit<OpenAiEmbedderOptions, 'apiKey' | 'dimensions'>
> &
  Pick<OpenAiEmbedderOptions, 'apiKey' | 'dimensions'>;

export const openAiEmbedderDefaults = {
  model: 'text-embedding-3-small',
  batchSize: 64,
  timeoutMs: 30_000,
  maxRetries: 5,
  retryBaseDelayMs: 500,
  retryMaxDelayMs: 20_000,
};
