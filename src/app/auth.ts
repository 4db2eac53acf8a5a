import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from '../http/api-error.js';
import { credentialsOf } from '../http/authorization.js';

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
