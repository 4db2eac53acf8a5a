/** One failed job as the status page lists it. */
export interface RecentFailure {
  /** The job id (for file jobs: the file id). */
  id: string;
  /** The BullMQ job name; for RQ, the job's description (`module.function(args)`). */
  name: string | null;
  /** `data.fileName` of a file job; null for other jobs or when the job hash is gone. */
  fileName: string | null;
  /** BullMQ's `failedReason`: the error message of the last attempt. */
  error: string | null;
  /** When it failed (epoch ms): the score of the `failed` sorted set (RQ: the job's `ended_at`). */
  failedAt: number;
}

/** Error messages longer than this are cut: the page lists them, it does not archive them. */
const MAX_ERROR_LENGTH = 500;

/** `data.fileName` of a job whose data is JSON (a file job), else null. */
export function fileNameOf(data: string | null): string | null {
  if (data === null) return null;
  try {
    const parsed = JSON.parse(data) as { fileName?: unknown } | null;
    return typeof parsed?.fileName === 'string' ? parsed.fileName : null;
  } catch {
    return null;
  }
}

/** An error message cut to what a page lists. */
export function shortenError(text: string | null): string | null {
  if (text === null || text.length <= MAX_ERROR_LENGTH) return text;
  return `${text.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}

/** Checks the `limit` a caller asks {@link readRecentFailures}-style readers for. */
export function checkFailuresLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new RangeError(`readRecentFailures limit must be an integer 1-1000, got ${limit}`);
  }
}
