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
