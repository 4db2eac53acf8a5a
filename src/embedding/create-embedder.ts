import type { EmbeddingConfig } from '../config/config.js';
import type { Embedder } from './embedder.js';
import { HashEmbedder } from './hash-embedder.js';
import { OpenAiEmbedder } from './openai-embedder.js';

/**
 * The {@link Embedder} the configuration asks for. `dimensions` applies to the hash embedder only:
 * an OpenAI-compatible model returns its own length (the `dimensions` request field is not sent,
 * since many compatible servers reject it).
 *
 * @throws RangeError when `provider` is 'openai' and `url` is missing, or a setting is out of range.
 */
export function createEmbedder(config: EmbeddingConfig): Embedder {
  switch (config.provider) {
    case 'hash':
      return new HashEmbedder({ dimensions: config.dimensions, model: config.model });
    case 'openai':
      if (!config.url) {
        throw new RangeError('createEmbedder: url is required when provider is "openai"');
      }
      return new OpenAiEmbedder({
        url: config.url,
        model: config.model,
        ...(config.apiKey !== undefined && { apiKey: config.apiKey }),
        batchSize: config.batchSize,
        timeoutMs: config.timeoutMs,
        maxRetries: config.maxRetries,
      });
    default: {
      const provider: never = config.provider;
      throw new RangeError(`createEmbedder: unknown provider ${JSON.stringify(provider)}`);
    }
  }
}
