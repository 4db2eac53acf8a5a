import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { ApiError } from '../../http/api-error.js';
import { errorResponse } from '../../http/error-response.js';
import { apiRequest, finishRoutes, handle, type ApiRoute } from '../../http/express-routes.js';
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

interface Route extends ApiRoute<ConsoleContext, ConsoleRequest> {
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

/**
 * The operator console's HTTP API under `/api/v1/`: the watched queues' jobs (list, detail) and
 * the actions on them. The exporter's app hands it every `/api/v1/` request; it answers each one,
 * with a JSON 404 for what it has no route for. Its routes match as Express's defaults do
 * (case-insensitive, a trailing slash allowed).
 */
export function createConsoleRouter(ctx: ConsoleContext): Router {
  const router = express.Router();
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

  // Console answers are never cached: they show live state.
  router.use((_req: Request, res: Response, next: NextFunction) => {
    res.set({ 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    next();
  });
  for (const route of routes) {
    router[route.method](
      route.path,
      guard(route.act),
      ...(route.method === 'post' ? [json] : []),
      handle((req, res) =>
        route.handler(ctx, {
          ...apiRequest(req),
          raw: req,
          ...(res.locals.actor !== undefined && { actor: res.locals.actor as Actor }),
        }),
      ),
    );
  }
  finishRoutes(router, {
    toResponse: errorResponse,
    logger: ctx.logger,
    jsonLimit: '16 KiB',
    failed: 'console request failed',
  });
  return router;
}
