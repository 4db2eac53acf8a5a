import { vi } from 'vitest';
import type { FileStatus } from '../src/pipeline/file-record.js';

/**
 * Asks the upload API at `url` for file `id` (`GET /api/v1/files/<id>`) every `intervalMs` until
 * its status is one of `statuses`, and resolves with the record; after `timeoutMs`, rejects with
 * the last one. Tests only (vi.waitFor).
 */
export function waitForFileStatus(
  url: string,
  id: string,
  statuses: readonly FileStatus[],
  { timeoutMs, intervalMs }: { timeoutMs: number; intervalMs: number },
): Promise<Record<string, unknown>> {
  return vi.waitFor(
    async () => {
      const record = (await (await fetch(`${url}/api/v1/files/${id}`)).json()) as Record<
        string,
        unknown
      >;
      if (statuses.includes(record.status as FileStatus)) return record;
      throw new Error(
        `${id} not ${statuses.join(' or ')} within ${timeoutMs} ms: ${JSON.stringify(record)}`,
      );
    },
    { timeout: timeoutMs, interval: intervalMs },
  );
}
