import {
  Observable,
  setHeaderOptions,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';

/** Middleware that aborts a request that has not been answered within `timeoutMs`. */
function timeoutMiddleware(timeoutMs: number): ObservableMiddleware {
  return {
    pre: (request) => {
      request.setSignal(AbortSignal.timeout(timeoutMs));
      return new Observable(Promise.resolve(request));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}

/**
 * Per-request options for a generated API call: a timeout (the client has none of its own, and a
 * background loop must not hang on one request) and, for patches, the `Content-Type` that picks
 * the patch strategy (e.g. `PatchStrategy.MergePatch`).
 */
export function requestOptions(options: {
  timeoutMs: number;
  contentType?: string;
}): ConfigurationOptions<ObservableMiddleware> {
  const base: ConfigurationOptions<ObservableMiddleware> = {
    middleware: [timeoutMiddleware(options.timeoutMs)],
    middlewareMergeStrategy: 'append',
  };
  return options.contentType === undefined
    ? base
    : setHeaderOptions('Content-Type', options.contentType, base);
}
