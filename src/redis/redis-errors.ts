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

/**
 * An error and the errors it carries, depth first: a MULTI refused by Redis fails as `EXECABORT
 * Transaction discarded because of previous errors`, and what Redis refused (an OOM, a READONLY…)
 * is only in ioredis' `previousErrors`; wrappers carry theirs as `cause` or (AggregateError)
 * `errors`. Bounded, in case of a cycle.
 */
function* errorsIn(error: unknown, depth = 0): Generator<Error> {
  if (!(error instanceof Error) || depth > 5) return;
  yield error;
  const nested = error as Error & { previousErrors?: unknown[]; errors?: unknown[] };
  for (const inner of [
    ...(Array.isArray(nested.previousErrors) ? nested.previousErrors : []),
    ...(Array.isArray(nested.errors) ? nested.errors : []),
    ...(nested.cause !== undefined ? [nested.cause] : []),
  ]) {
    yield* errorsIn(inner, depth + 1);
  }
}

function isUnavailable(error: Error): boolean {
  if (error.name === 'MaxRetriesPerRequestError') return true;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  return UNAVAILABLE_MESSAGES.some((message) => error.message.includes(message));
}

/**
 * Whether an error means "Redis cannot be reached right now" (so: 503, retry later), wherever the
 * command ran: plain, pipelined, in a MULTI, in a script.
 */
export function isRedisUnavailable(error: unknown): boolean {
  for (const inner of errorsIn(error)) if (isUnavailable(inner)) return true;
  return false;
}

/**
 * Whether Redis refused a command for lack of memory (`maxmemory` with `noeviction`), wherever it
 * ran: a plain command or a pipelined one (`OOM command not allowed…`), a script (its error names
 * the OOM), or a MULTI (`EXECABORT`, the OOM among its previous errors: Redis 7 refuses every
 * command queued in a MULTI while it is over its limit, reads included).
 */
export function isRedisOutOfMemory(error: unknown): boolean {
  for (const inner of errorsIn(error)) if (/\bOOM\b/.test(inner.message)) return true;
  return false;
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
