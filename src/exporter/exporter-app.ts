import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import express, {
  type Express,
  type NextFunction,
  type Request,
  type Response,
  type Router,
} from 'express';
import type { Logger } from '../config/logger.js';
import { assetBody, type StatusAsset } from './status-api.js';

/** An answer of the exporter's own routes: its status, headers and body (text or a file). */
export interface ExporterResponse {
  status: number;
  headers: OutgoingHttpHeaders;
  body: string | Buffer;
}

/** What the exporter's handlers use; `createExporterServer` builds it. */
export interface ExporterContext {
  /** One scrape (serialized with the others) in Prometheus text, or OpenMetrics when asked. */
  scrape: (openMetrics: boolean) => Promise<{ contentType: string; body: string }>;
  /** The body of `GET /api/status` (serialized with the scrapes). */
  status: () => Promise<unknown>;
  /** The status page's files by URL path. */
  assets: ReadonlyMap<string, StatusAsset>;
  /** The page's Content-Security-Policy. */
  pagePolicy: string;
  /** METRICS_AUTH's check (always true when unset) and its kind, for `WWW-Authenticate`. */
  authorized: (req: IncomingMessage) => boolean;
  authKind: 'bearer' | 'basic' | undefined;
  logger: Logger;
  /** The operator console's API, handed every `/api/v1/` request; absent: no console. */
  console?: Router;
}

type Handler = (ctx: ExporterContext, req: Request) => Promise<ExporterResponse>;

const TEXT = { 'Content-Type': 'text/plain' };

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

async function healthz(): Promise<ExporterResponse> {
  return { status: 200, headers: TEXT, body: 'ok\n' };
}

async function metrics(ctx: ExporterContext, req: Request): Promise<ExporterResponse> {
  const openMetrics = (req.headers.accept ?? '').includes('application/openmetrics-text');
  const { contentType, body } = await ctx.scrape(openMetrics);
  return { status: 200, headers: { 'Content-Type': contentType }, body };
}

async function status(ctx: ExporterContext): Promise<ExporterResponse> {
  const body = JSON.stringify(await ctx.status());
  return {
    status: 200,
    headers: {
      ...SECURITY_HEADERS,
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
    },
    body,
  };
}

/** A file of the status page; the page itself (`/`) with its policy and no framing. */
const asset =
  (path: string, file: StatusAsset): Handler =>
  async (ctx) => {
    let body: Buffer;
    try {
      body = await assetBody(file);
    } catch (error) {
      ctx.logger.error(
        { err: error, path },
        'status page file unreadable (the build copies src/exporter/status-page to dist/exporter/status-page)',
      );
      return { status: 500, headers: TEXT, body: 'Status page file unreadable\n' };
    }
    return {
      status: 200,
      headers: {
        ...SECURITY_HEADERS,
        'Content-Type': file.contentType,
        'Content-Length': body.length,
        ...(path === '/' && {
          'Content-Security-Policy': ctx.pagePolicy,
          'X-Frame-Options': 'DENY',
        }),
      },
      body,
    };
  };

interface Route {
  path: string;
  /** Needs METRICS_AUTH's credentials. */
  auth: boolean;
  handler: Handler;
}

function routesOf(ctx: ExporterContext): Route[] {
  return [
    { path: '/healthz', auth: false, handler: healthz },
    { path: '/metrics', auth: true, handler: metrics },
    { path: '/api/status', auth: true, handler: status },
    ...[...ctx.assets].map(([path, file]) => ({ path, auth: true, handler: asset(path, file) })),
  ];
}

/** Writes an answer; a HEAD request gets its headers only. */
function send(req: Request, res: Response, response: ExporterResponse): void {
  res.writeHead(response.status, response.headers);
  res.end(req.method === 'HEAD' ? undefined : response.body);
}

function notFound(req: Request, res: Response): void {
  send(req, res, {
    status: 404,
    headers: TEXT,
    body: 'Not found: try / (status page), /metrics or /healthz\n',
  });
}

/**
 * The exporter's HTTP app: the console's API under `/api/v1/` first; every other path answers
 * GET and HEAD only (405 otherwise), by exact, case-sensitive path: `/healthz` to anyone, the rest
 * after METRICS_AUTH's check (401), anything else 404. Errors are logged and answered with a 500.
 */
export function createExporterApp(ctx: ExporterContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // `/metrics/` and `/METRICS` are not `/metrics` (both answered 404).
  app.set('strict routing', true);
  app.set('case sensitive routing', true);

  // Paths are matched on the request target as sent: one that is not a plain `/…` path (the
  // absolute form `http://host/metrics`, a `#fragment`) is not routed, though Express would read
  // its path out of it.
  const { console: consoleRouter } = ctx;
  if (consoleRouter) {
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (req.url.startsWith('/api/v1/')) consoleRouter(req, res, next);
      else next();
    });
  }
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, {
        status: 405,
        headers: { Allow: 'GET, HEAD', ...TEXT },
        body: 'Method not allowed\n',
      });
    } else if (!req.url.startsWith('/') || req.url.includes('#')) {
      notFound(req, res);
    } else {
      next();
    }
  });
  const authenticate = (req: Request, res: Response, next: NextFunction) => {
    if (ctx.authorized(req)) {
      next();
      return;
    }
    send(req, res, {
      status: 401,
      headers: {
        ...TEXT,
        'WWW-Authenticate':
          ctx.authKind === 'basic' ? 'Basic realm="qscale"' : 'Bearer realm="qscale"',
      },
      body: `Unauthorized: ${req.path} needs the credentials set in METRICS_AUTH\n`,
    });
  };
  for (const route of routesOf(ctx)) {
    app.get(
      route.path,
      ...(route.auth ? [authenticate] : []),
      async (req: Request, res: Response, next: NextFunction) => {
        try {
          send(req, res, await route.handler(ctx, req));
        } catch (error) {
          next(error);
        }
      },
    );
  }
  app.use(notFound);
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    ctx.logger.error({ err: error }, 'metrics request failed');
    if (!res.headersSent) res.writeHead(500, TEXT);
    res.end('Internal error\n');
  });
  return app;
}
