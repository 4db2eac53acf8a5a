import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a failed Kubernetes API call; undefined when no answer came (network, timeout). */
export function apiStatus(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/**
 * What went wrong, in one line: the API server's `Status.message` when it sent one (e.g. `pods
 * "x" is forbidden: User "system:serviceaccount:qscale:qscale-exporter" cannot patch resource
 * "pods" …`), else `HTTP <code>`, else the error's own message (connection refused, timeout, …).
 */
export function apiErrorMessage(error: unknown): string {
  if (error instanceof ApiException) {
    const body: unknown = error.body;
    let message: unknown;
    if (typeof body === 'string') {
      try {
        message = (JSON.parse(body) as { message?: unknown }).message;
      } catch {
        message = body.trim() || undefined;
      }
    } else if (typeof body === 'object' && body !== null) {
      message = (body as { message?: unknown }).message;
    }
    return typeof message === 'string' && message !== ''
      ? `HTTP ${error.code}: ${message}`
      : `HTTP ${error.code}`;
  }
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message && !error.message.includes(cause.message)
      ? `${error.message}: ${cause.message}`
      : error.message;
  }
  return String(error);
}
