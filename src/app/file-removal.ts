import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiContext } from './api-context.js';

/** What removing a file uses. */
export type FileRemovalContext = Pick<ApiContext, 'records' | 'storage' | 'queue' | 'logger'>;

/**
 * Deletes a file whole — record, chunks, vectors, blob and any pending job — for
 * `DELETE /api/v1/files/:id` and the retention sweeper alike. With `onlyFinished` a file that is
 * queued or processing is left whole (`unfinished`), decided atomically with the delete.
 *
 * The record goes first, in one script (which also subtracts the blob from the blob byte total):
 * from then on the file is gone for every reader, and a worker that meets its job finds no record
 * and discards it. If Redis does not answer, the delete may still happen when it does; the blob is
 * then removed once the record is seen gone. A waiting or delayed job is removed; an active one
 * (locked) cannot be, and its worker finds the record gone and discards what it produced.
 */
export async function removeFile(
  ctx: FileRemovalContext,
  id: string,
  options: { onlyFinished?: boolean } = {},
): Promise<'deleted' | 'missing' | 'unfinished'> {
  let outcome: 'deleted' | 'missing' | 'unfinished';
  try {
    outcome = await ctx.records.delete(id, options);
  } catch (error) {
    void removeBlobOnceRecordIsGone(ctx, id);
    throw error;
  }
  if (outcome === 'unfinished') return outcome;
  await ctx.storage.remove(id);
  await ctx.queue.remove(id).catch((error: unknown) => {
    ctx.logger.warn({ err: error, fileId: id }, 'could not remove the job; its worker skips it');
  });
  return outcome;
}

/** After a delete with no answer: asks Redis (for up to 10 min) and removes the blob if the record went. */
async function removeBlobOnceRecordIsGone(ctx: FileRemovalContext, id: string): Promise<void> {
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    try {
      const [exists] = await ctx.records.existing([id]);
      if (!exists) await ctx.storage.remove(id);
      return;
    } catch {
      await sleep(500);
    }
  }
}
