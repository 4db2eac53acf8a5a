import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** What a handler sees of a request: no framework types. */
export interface ApiRequest {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  headers: IncomingHttpHeaders;
  /** The raw request, for handlers that stream the body (uploads). */
  raw: IncomingMessage;
}

/** What a handler returns; the adapter writes it as JSON. */
export interface ApiResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
