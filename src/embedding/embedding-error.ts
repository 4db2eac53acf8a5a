export interface EmbeddingErrorOptions {
  /** HTTP status of the failed response, when there was one. */
  status?: number;
  /** Whether trying again later may succeed (429, 5xx, network errors, timeouts). */
  retryable?: boolean;
  cause?: unknown;
}

/** An embedding request failed, or the embedding service answered with something unusable. */
export class EmbeddingError extends Error {
  readonly status: number | undefined;
  readonly retryable: boolean;

  constructor(message: string, options: EmbeddingErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EmbeddingError';
    this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}
