/**
 * An error the API reports to the client as it is: status, a machine-readable code, and a message
 * saying what was wrong and what is allowed.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    extra: { details?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    if (extra.details) this.details = extra.details;
    if (extra.headers) this.headers = extra.headers;
  }
}
