import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from '../http/api-error.js';
import { credentialsOf } from '../http/authorization.js';
import { isLoopbackHost } from '../http/loopback.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Checks `Authorization: Bearer <API_TOKEN>`. Both sides are hashed first, so the comparison takes
 * the same time whatever the length or content of the presented token.
 */
export function createBearerCheck(token: string): (headers: IncomingHttpHeaders) => void {
  const expected = digest(token);
  return (headers) => {
    const token = credentialsOf(headers.authorization, 'bearer');
    if (token === undefined || !timingSafeEqual(digest(token), expected)) {
      throw new ApiError(
        401,
        'unauthorized',
        'Missing or wrong bearer token: send "Authorization: Bearer <API_TOKEN>"',
        { headers: { 'WWW-Authenticate': 'Bearer realm="qscale"' } },
      );
    }
  };
}

/**
 * Without API_TOKEN the API trusts whoever can reach it, so it answers only requests addressed to a
 * loopback host: a web page the user visits could otherwise reach it through DNS rebinding (its
 * requests name the attacker's host, e.g. `Host: rebind.attacker.example`, resolved to 127.0.0.1).
 */
export function requireLoopbackHost(headers: IncomingHttpHeaders): void {
  if (isLoopbackHost(headers.host)) return;
  const shown = headers.host === undefined ? 'no Host' : JSON.stringify(headers.host.slice(0, 100));
  throw new ApiError(
    403,
    'host_not_allowed',
    `Without API_TOKEN this API answers only requests to localhost, 127.0.0.1 or [::1], not ${shown} (a web page could reach it through DNS rebinding). Set API_TOKEN to serve other host names, or call it as localhost (HOST=127.0.0.1 keeps it on this machine).`,
  );
}
