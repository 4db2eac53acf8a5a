import express, { type NextFunction, type Request, type Response, type Express } from 'express';
import type { ApiContext } from './api-context.js';
import { ApiError } from '../http/api-error.js';
import type { ApiRequest } from '../http/api-types.js';
import { createBearerCheck, requireLoopbackHost } from './auth.js';
import { apiRequest, finishRoutes, handle, type ApiRoute } from '../http/express-routes.js';
import { errorResponse } from './error-response.js';
import { deleteFile, getFile, getFileChunks, listFiles } from './handlers/files.js';
import { healthz, readyz } from './handlers/health.js';
import { search } from './handlers/search.js';
import { uploadFiles } from './handlers/upload-files.js';

interface Route extends ApiRoute<ApiContext, ApiRequest> {
  /** Requires the bearer token when API_TOKEN is set, and a loopback Host when it is not. */
  auth: boolean;
  json?: boolean;
}

const routes: Route[] = [
  { method: 'get', path: '/healthz', handler: healthz, auth: false },
  { method: 'get', path: '/readyz', handler: readyz, auth: false },
  { method: 'post', path: '/api/v1/files', handler: uploadFiles, auth: true },
  { method: 'get', path: '/api/v1/files', handler: listFiles, auth: true },
  { method: 'get', path: '/api/v1/files/:id', handler: getFile, auth: true },
  { method: 'get', path: '/api/v1/files/:id/chunks', handler: getFileChunks, auth: true },
  { method: 'delete', path: '/api/v1/files/:id', handler: deleteFile, auth: true },
  { method: 'post', path: '/api/v1/search', handler: search, auth: true, json: true },
];

/**
 * CORS for the origins in CORS_ORIGINS (exact match), so a page on another port — the exporter's
 * status page — can upload and poll. Other origins get no CORS headers, so browsers keep them out.
 * Preflights of allowed origins are answered here with 204.
 */
function cors(origins: readonly string[]) {
  const allowed = new Set(origins);
  return (req: Request, res: Response, next: NextFunction) => {
    // The answer depends on Origin: caches must not hand one origin's answer to another.
    res.vary('Origin');
    const origin = req.headers.origin;
    if (origin === undefined || !allowed.has(origin)) {
      next();
      return;
    }
    res.set('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      res.set({
        'Access-Control-Allow-Methods': 'GET, POST, DELETE',
        'Access-Control-Allow-Headers': 'Content-Type, Authorization, Idempotency-Key',
        'Access-Control-Max-Age': '600',
      });
      res.vary('Access-Control-Request-Headers');
      res.status(204).end();
      return;
    }
    next();
  };
}

/**
 * Refuses state-changing requests (POST, DELETE) that a browser sends from another site: an
 * `Origin` that is neither this API's own nor in CORS_ORIGINS, or `Sec-Fetch-Site: cross-site`.
 * A form on any web page could otherwise make a visitor's browser upload. Clients that are not
 * browsers send no `Origin` and are not affected.
 */
function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

function refuseCrossSite(origins: readonly string[]) {
  const allowed = new Set(origins);
  return (req: Request, _res: Response, next: NextFunction) => {
    if (req.method !== 'POST' && req.method !== 'DELETE') {
      next();
      return;
    }
    const origin = req.headers.origin;
    // Same host and port as the request went to (the scheme may differ behind a TLS proxy).
    const crossOrigin =
      origin !== undefined && !allowed.has(origin) && hostOf(origin) !== req.headers.host;
    const crossSite =
      req.headers['sec-fetch-site'] === 'cross-site' &&
      (origin === undefined || !allowed.has(origin));
    if (crossOrigin || crossSite) {
      next(
        new ApiError(
          403,
          'cross_site_refused',
          `Requests from ${origin ?? 'another site'} may not change anything here; allow the origin with CORS_ORIGINS`,
        ),
      );
      return;
    }
    next();
  };
}

/** The upload API as an Express app; `listen` is the caller's (tests use supertest without it). */
export function createApp(ctx: ApiContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const checkAccess = ctx.config.http.apiToken
    ? createBearerCheck(ctx.config.http.apiToken)
    : requireLoopbackHost;
  const json = express.json({ limit: '64kb', type: () => true });
  if (ctx.config.http.corsOrigins.length > 0) app.use(cors(ctx.config.http.corsOrigins));
  app.use(refuseCrossSite(ctx.config.http.corsOrigins));

  // The token (or the Host) is checked before anything reads the body.
  const authenticate = (req: Request, _res: Response, next: NextFunction) => {
    try {
      checkAccess(req.headers);
      next();
    } catch (error) {
      next(error);
    }
  };

  for (const route of routes) {
    const middlewares = [...(route.auth ? [authenticate] : []), ...(route.json ? [json] : [])];
    app[route.method](
      route.path,
      ...middlewares,
      handle((req) => route.handler(ctx, apiRequest(req))),
    );
  }

  // Registered last: every error of every route ends here.
  finishRoutes(app, {
    toResponse: errorResponse,
    logger: ctx.logger,
    jsonLimit: '64 KiB',
    failed: 'request failed',
  });
  return app;
}
