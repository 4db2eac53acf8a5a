import express, { type NextFunction, type Request, type Response, type Express } from 'express';
import { ApiError } from '../../http/api-error.js';
import type { ApiResponse } from '../../http/api-types.js';
import { errorResponse } from '../../http/error-response.js';
import type { Actor } from './console-access.js';
import type { ConsoleContext, ConsoleRequest } from './console-context.js';
import {
  ackFailures,
  cleanQueue,
  getHistory,
  getJob,
  jobAction,
  listJobs,
  listQueues,
  queuePause,
  retryFailed,
} from './job-handlers.js';

type Handler = (ctx: ConsoleContext, req: ConsoleRequest) => Promise<ApiResponse>;

interface Route {
  method: 'get' | 'post' | 'delete';
  path: string;
  handler: Handler;
  /** An action: needs the action permission and passes the CSRF checks. */
  act: boolean;
}

const routes: Route[] = [
  { method: 'get', path: '/api/v1/queues', handler: listQueues, act: false },
  { method: 'get', path: '/api/v1/queues/:queue/jobs', handler: listJobs, act: false },
  { method: 'get', path: '/api/v1/queues/:queue/jobs/:id', handler: getJob, act: false },
  { method: 'get', path: '/api/v1/queues/:queue/history', handler: getHistory, act: false },
  {
    method: 'post',
    path: '/api/v1/queues/:queue/jobs/:id/retry',
    handler: jobAction('retry'),
    act: true,
  },
  {
    method: 'post',
    path: '/api/v1/queues/:queue/jobs/:id/promote',
    handler: jobAction('promote'),
    act: true,
  },
  {
    method: 'delete',
    path: '/api/v1/queues/:queue/jobs/:id',
    handler: jobAction('remove'),
    act: true,
  },
  { method: 'post', path: '/api/v1/queues/:queue/retry-failed', handler: retryFailed, act: true },
  { method: 'post', path: '/api/v1/queues/:queue/ack-failures', handler: ackFailures, act: true },
  { method: 'post', path: '/api/v1/queues/:queue/pause', handler: queuePause('pause'), act: true },
  {
    method: 'post',
    path: '/api/v1/queues/:queue/resume',
    handler: queuePause('resume'),
    act: true,
  },
  { method: 'post', path: '/api/v1/queues/:queue/clean', handler: cleanQueue, act: true },
];

function send(res: Response, response: ApiResponse): void {
  res.set({ 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  if (response.headers) res.set(response.headers);
  if (response.body === undefined) res.status(response.status).end();
  else res.status(response.status).json(response.body);
}

/**
 * The operator console's HTTP API under `/api/v1/`: the watched queues' jobs (list, detail) and
 * the actions on them. The exporter's server hands it every `/api/v1/` request.
 */
export function createConsoleApp(ctx: ConsoleContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const json = express.json({ limit: '16kb', type: () => true });

  const guard = (act: boolean) => (req: Request, res: Response, next: NextFunction) => {
    try {
      if (act) {
        res.locals.actor = ctx.access.checkAction(req);
      } else if (!ctx.access.canRead(req)) {
        throw new ApiError(
          401,
          'unauthorized',
          'Missing or wrong credentials: send those of METRICS_AUTH (or the action token)',
        );
      }
      next();
    } catch (error) {
      if (act && error instanceof ApiError) {
        ctx.logger.warn(
          {
            audit: {
              method: req.method,
              path: req.path,
              from: req.socket.remoteAddress,
              outcome: 'denied',
              error: error.message,
            },
          },
          'console: action denied',
        );
      }
      next(error);
    }
  };

  for (const route of routes) {
    app[route.method](
      route.path,
      guard(route.act),
      ...(route.method === 'post' ? [json] : []),
      async (req: Request, res: Response, next: NextFunction) => {
        try {
          const response = await route.handler(ctx, {
            params: req.params as Record<string, string>,
            query: req.query as Record<string, unknown>,
            body: req.body,
            headers: req.headers,
            raw: req,
            ...(res.locals.actor !== undefined && { actor: res.locals.actor as Actor }),
          });
          send(res, response);
        } catch (error) {
          next(error);
        }
      },
    );
  }

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(404, 'not_found', `No route for ${req.method} ${req.path}`));
  });

  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const bodyError = error as { type?: string };
    let mapped = error;
    if (bodyError?.type === 'entity.parse.failed') {
      mapped = new ApiError(400, 'invalid_json', 'The request body is not valid JSON');
    } else if (bodyError?.type === 'entity.too.large') {
      mapped = new ApiError(413, 'body_too_large', 'The JSON body is larger than 16 KiB');
    }
    const response = errorResponse(mapped);
    if (response.status >= 500) {
      ctx.logger.error(
        { err: error, method: req.method, path: req.path },
        'console request failed',
      );
    }
    if (!res.headersSent) send(res, response);
  });
  return app;
}
