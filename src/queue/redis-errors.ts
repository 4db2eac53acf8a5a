const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTCONN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

const UNAVAILABLE_MESSAGES = [
  "Stream isn't writeable",
  'Connection is closed',
  'Reached the max retries per request limit',
  'LOADING',
  'MASTERDOWN',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'READONLY',
  // A blocked command (WAIT, BZPOPMIN) on a primary that was just turned into a replica.
  'UNBLOCKED',
  // The primary's min-replicas-to-write is not met (no replica in reach): as REDIS_MIN_REPLICAS_ACK.
  'NOREPLICAS',
  'Command timed out',
  // A pipeline in flight when its connection closed (ioredis does not resend pipelines).
  'Command aborted due to connection close',
  // The Cluster client gave up following MOVED/ASK/TRYAGAIN (a slot move that outlasts its retries).
  'Too many Cluster redirections',
];

/** Whether an error means "Redis cannot be reached right now" (so: 503, retry later). */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  return UNAVAILABLE_MESSAGES.some((message) => error.message.includes(message));
}

/** Whether Redis refused a write for lack of memory (`maxmemory` with `noeviction`). */
export function isRedisOutOfMemory(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // A MULTI with a refused command fails as EXECABORT, naming the OOM in its message.
  return /\bOOM\b/.test(error.message);
}

/** A connection error as an operator reads it: `connection refused at 127.0.0.1:6390`. */
function describeConnectionError(
  error: NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string },
): string {
  const at =
    error.address !== undefined ? `${error.address}:${error.port}` : (error.hostname ?? '');
  switch (error.code) {
    case 'ECONNREFUSED':
      return `connection refused at ${at} (nothing listens there)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found: ${error.hostname ?? at}`;
    case 'ETIMEDOUT':
      return `connection to ${at} timed out`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${at}`;
    default:
      return error.message;
  }
}

/**
 * Remembers a client's latest connection error, so that a command that then fails with ioredis'
 * bare "Connection is closed." can be explained by what really happened (`connection refused at
 * host:port`). Registers an `error` listener (which also keeps the error from being unhandled).
 */
export function connectionErrorExplainer(client: {
  on(event: 'error', listener: (error: Error) => void): unknown;
}): (error: unknown) => string {
  let last: Error | undefined;
  client.on('error', (error) => {
    last = error;
  });
  return (error) => {
    const message = error instanceof Error ? error.message : String(error);
    if (last && /Connection is closed|Stream isn't writeable|connecting to Redis/.test(message)) {
      return describeConnectionError(last);
    }
    return message;
  };
}
