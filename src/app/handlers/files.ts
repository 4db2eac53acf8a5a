import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiContext } from '../api-context.js';
import { ApiError } from '../api-error.js';
import type { ApiRequest, ApiResponse } from '../api-types.js';
import { fileView } from '../file-view.js';

const FILE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function notFound(id: string): ApiError {
  return new ApiError(404, 'file_not_found', `No file with id "${id}"`);
}

/** Only ids we could have issued reach Redis; anything else is simply not found. */
function fileId(req: ApiRequest): string {
  const id = req.params.id ?? '';
  if (!FILE_ID.test(id)) throw notFound(id.slice(0, 100));
  return id;
}

function intParam(
  req: ApiRequest,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = req.query[name];
  if (raw === undefined) return fallback;
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ApiError(
      400,
      'invalid_parameter',
      `Query parameter "${name}" must be a whole number from ${min} to ${max}`,
    );
  }
  return value;
}

/** GET /api/v1/files/:id */
export async function getFile(ctx: ApiContext, req: ApiRequest): Promise<ApiResponse> {
  const id = fileId(req);
  const record = await ctx.records.get(id);
  if (!record) throw notFound(id);
  return { status: 200, body: fileView(record) };
}

/** GET /api/v1/files/:id/chunks?offset=0&limit=50 */
export async function getFileChunks(ctx: ApiContext, req: ApiRequest): Promise<ApiResponse> {
  const id = fileId(req);
  const offset = intParam(req, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = intParam(req, 'limit', 50, 1, 500);
  const record = await ctx.records.get(id);
  if (!record) throw notFound(id);
  const { total, chunks } = await ctx.records.getChunks(id, offset, limit);
  const next = offset + chunks.length < total ? offset + chunks.length : null;
  return {
    status: 200,
    body: {
      fileId: id,
      status: record.status,
      total,
      offset,
      limit,
      nextOffset: next,
      chunks: chunks.map((text, i) => ({ index: offset + i, text })),
    },
  };
}

/** DELETE /api/v1/files/:id: the blob, the record, its chunks and any pending job. */
export async function deleteFile(ctx: ApiContext, req: ApiRequest): Promise<ApiResponse> {
  const id = fileId(req);
  const record = await ctx.records.get(id);
  if (!record) throw notFound(id);
  // The record goes first, in one MULTI: from then on the file is gone for every reader, and a
  // worker that meets its job finds no record and discards it. If Redis does not answer, the
  // delete may still happen when it does; the blob is then removed once the record is seen gone.
  try {
    await ctx.records.delete(id);
  } catch (error) {
    void removeBlobOnceRecordIsGone(ctx, id);
    throw error;
  }
  // A waiting or delayed job is removed; an active one (locked) cannot be, and its worker finds
  // the record gone and discards what it produced.
  await ctx.storage.remove(id);
  await ctx.queue.remove(id).catch((error: unknown) => {
    ctx.logger.warn({ err: error, fileId: id }, 'could not remove the job; its worker skips it');
  });
  return { status: 204 };
}

/** After a delete with no answer: asks Redis (for up to 10 min) and removes the blob if the record went. */
async function removeBlobOnceRecordIsGone(ctx: ApiContext, id: string): Promise<void> {
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
