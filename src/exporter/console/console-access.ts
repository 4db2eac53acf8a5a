import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../../http/api-error.js';
import { credentialsOf } from '../../http/authorization.js';
import { isLoopbackAddress, isLoopbackHost } from '../../http/loopback.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Who an allowed action is logged as. */
export type Actor = 'action-token' | 'loopback';

export interface ConsoleAccessOptions {
  /** ACTION_TOKEN: actions need `Authorization: Bearer <it>`, from any interface. */
  actionToken?: string;
  /** METRICS_AUTH's check: reading needs it (an action token is accepted too). */
  canRead: (req: IncomingMessage) => boolean;
}

/** What the console may do for one request: the page shows or hides its buttons from it. */
export interface ActionPermission {
  allowed: boolean;
  /** The page should ask for the action token (ACTION_TOKEN is set and was not sent). */
  needsToken: boolean;
  /** Why not, in words an operator can act on. */
  reason: string | null;
}

/**
 * Reading and acting are separate permissions. Reading needs METRICS_AUTH (when set) or the action
 * token. Acting needs ACTION_TOKEN as a bearer token when it is set; when it is not, actions are
 * allowed only to requests that reach this server over loopback, name a loopback host and did not
 * come through a proxy (no `Forwarded`/`X-Forwarded-For`): a sidecar reached over the pod network
 * is read-only until a token is configured.
 *
 * Every action is also refused across origins (CSRF): a browser's `Sec-Fetch-Site` must be
 * `same-origin` (or absent, for clients that are not browsers), an `Origin` must be this server's
 * own, and a POST must be `Content-Type: application/json` — which no HTML form can send.
 */
export class ConsoleAccess {
  private readonly tokenDigest?: Buffer;
  private readonly canReadWith: (req: IncomingMessage) => boolean;

  constructor(options: ConsoleAccessOptions) {
    if (options.actionToken !== undefined) this.tokenDigest = digest(options.actionToken);
    this.canReadWith = options.canRead;
  }

  get tokenRequired(): boolean {
    return this.tokenDigest !== undefined;
  }

  private hasActionToken(req: IncomingMessage): boolean {
    if (this.tokenDigest === undefined) return false;
    const token = credentialsOf(req.headers.authorization, 'bearer');
    return token !== undefined && timingSafeEqual(digest(token), this.tokenDigest);
  }

  canRead(req: IncomingMessage): boolean {
    return this.hasActionToken(req) || this.canReadWith(req);
  }

  /** Whether `req` could act (ignoring CSRF, which depends on how an action is sent). */
  permission(req: IncomingMessage): ActionPermission {
    if (this.tokenDigest !== undefined) {
      return this.hasActionToken(req)
        ? { allowed: true, needsToken: false, reason: null }
        : {
            allowed: false,
            needsToken: true,
            reason: 'Actions need the action token (ACTION_TOKEN).',
          };
    }
    const proxied =
      req.headers.forwarded !== undefined || req.headers['x-forwarded-for'] !== undefined;
    if (
      isLoopbackAddress(req.socket.localAddress) &&
      isLoopbackHost(req.headers.host) &&
      !proxied
    ) {
      return { allowed: true, needsToken: false, reason: null };
    }
    return {
      allowed: false,
      needsToken: false,
      reason:
        'Read-only: without ACTION_TOKEN, actions are allowed only over loopback (e.g. kubectl port-forward to localhost). Set ACTION_TOKEN on the sidecar to act from here.',
    };
  }

  /** Throws the 401/403 that refuses `req` as an action; returns who is acting otherwise. */
  checkAction(req: IncomingMessage): Actor {
    const fetchSite = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    const crossOrigin =
      origin !== undefined && origin !== 'null'
        ? hostOf(origin) !== req.headers.host
        : origin === 'null';
    if (
      (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') ||
      crossOrigin
    ) {
      throw new ApiError(
        403,
        'cross_origin_refused',
        `Actions are accepted only from this server's own page, not from ${origin ?? 'another site'}`,
      );
    }
    // A POST must say JSON even without a body: HTML forms cannot, cross-origin scripts need a
    // preflight this server never grants.
    if (
      req.method === 'POST' &&
      !/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')
    ) {
      throw new ApiError(
        415,
        'unsupported_media_type',
        'Actions must be sent as JSON (Content-Type: application/json), e.g. with the body {}',
      );
    }
    if (this.tokenDigest === undefined && !this.canReadWith(req)) {
      throw new ApiError(
        401,
        'unauthorized',
        'Missing or wrong credentials: this sidecar needs those of METRICS_AUTH',
      );
    }
    const permission = this.permission(req);
    if (!permission.allowed) {
      throw new ApiError(
        permission.needsToken ? 401 : 403,
        permission.needsToken ? 'unauthorized' : 'read_only',
        permission.needsToken
          ? 'Missing or wrong action token: send "Authorization: Bearer <ACTION_TOKEN>"'
          : permission.reason!,
        permission.needsToken
          ? { headers: { 'WWW-Authenticate': 'Bearer realm="qscale-actions"' } }
          : {},
      );
    }
    return this.tokenDigest !== undefined ? 'action-token' : 'loopback';
  }
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
