import { EmbeddingError } from '../embedding/embedding-error.js';
import type { ApiResponse } from '../http/api-types.js';
import { errorResponse as httpErrorResponse } from '../http/error-response.js';

/** The one place that turns an upload-API error into an HTTP answer. */
export function errorResponse(error: unknown): ApiResponse {
  if (error instanceof EmbeddingError) {
    return {
      status: 502,
      body: {
        error: {
          code: 'embedding_unavailable',
          message: `The embedding service failed: ${error.message}`,
        },
      },
    };
  }
  return httpErrorResponse(error);
}
