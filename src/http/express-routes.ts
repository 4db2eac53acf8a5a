import type { IRouter, NextFunction, Request, Response } from 'express';
import type { Logger } from '../config/logger.js';
import { ApiError } from './api-error.js';
import type { ApiRequest, ApiResponse } from './api-types.js';

/** One route of an API's table: an HTTP method and path, answered by a handler of that API. */
export interface ApiRoute<Context, Req> {
  method: 'get' | 'post' | 'delete';
  path: string;
  handler: (ctx: Context, req: Req) => Promise<ApiResponse>;
}

/** Writes a handler's answer: its headers, then the body as JSON (or none). */
export function send(res: Response, response: ApiResponse): void {
  if (response.headers) res.set(response.headers);
  if (response.body === undefined) res.status(response.status).end();
  else res.status(response.status).json(response.body);
}

/** What a framework-free handler sees of an Express request. */
export function apiRequest(req: Request): ApiRequest {
  return {
    params: req.params as Record<string, string>,
    query: req.query as Record<string, unknown>,
    body: req.body,
    headers: req.headers,
    raw: req,
  };
}

/** The last middleware of a route: runs the handler, sends its answer, forwards what it throws. */
export function handle(run: (req: Request, res: Response) => Promise<ApiResponse>) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      send(res, await run(req, res));
    } catch (error) {
      next(error);
    }
  };
}

/**
 * Registered after the routes: a 404 naming the request for anything unrouted, and the one error
 * middleware — JSON body errors as 400/413, everything else through `toResponse`; a 5xx is logged.
 */
export function finishRoutes(
  app: IRouter,
  options: {
    toResponse: (error: unknown) => ApiResponse;
    logger: Logger;
    jsonLimit: string;
    /** The log message of a 5xx. */
    failed: string;
  },
): void {
  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(404, 'not_found', `No route for ${req.method} ${req.path}`));
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const bodyError = error as { type?: string };
    let mapped = error;
    if (bodyError?.type === 'entity.parse.failed') {
      mapped = new ApiError(400, 'invalid_json', 'The request body is not valid JSON');
    } else if (bodyError?.type === 'entity.too.large') {
      mapped = new ApiError(
        413,
        'body_too_large',
        `The JSON body is larger than ${options.jsonLimit}`,
      );
    }
    const response = options.toResponse(mapped);
    if (response.status >= 500) {
      options.logger.error({ err: error, method: req.method, path: req.path }, options.failed);
    }
    if (!res.headersSent) send(res, response);
  });
}
