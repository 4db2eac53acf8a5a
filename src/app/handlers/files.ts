import type { ApiContext } from '../api-context.js';
import { ApiError } from '../../http/api-error.js';
import type { ApiRequest, ApiResponse } from '../../http/api-types.js';
import { removeFile } from '../file-removal.js';
import { fileView } from '../file-view.js';
import type { FilePosition, FileRecord, FileStatus } from '../../pipeline/file-record.js';

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

const FILE_STATUSES: readonly FileStatus[] = ['queued', 'processing', 'completed', 'failed'];
/** `<uploadedAt ms>.<file id>`: where the previous page ended. */
const CURSOR = /^(\d{1,15})\.([0-9a-f-]{36})$/;
/** Files read per Redis round trip while filling a page. */
const LIST_BATCH = 100;
/**
 * Most files one request reads to fill a filtered page: a rare status among many files gives a
 * short (or empty) page with a `nextCursor` to go on from, never a request that reads every file.
 */
const LIST_SCAN_LIMIT = 2000;

function statusParam(req: ApiRequest): FileStatus | undefined {
  const raw = req.query.status;
  if (raw === undefined) return undefined;
  if (typeof raw === 'string' && (FILE_STATUSES as readonly string[]).includes(raw)) {
    return raw as FileStatus;
  }
  throw new ApiError(
    400,
    'invalid_parameter',
    `Query parameter "status" must be one of ${FILE_STATUSES.join(', ')}`,
  );
}

function cursorParam(req: ApiRequest): FilePosition | undefined {
  const raw = req.query.cursor;
  if (raw === undefined) return undefined;
  const match = typeof raw === 'string' ? CURSOR.exec(raw) : null;
  if (!match || !FILE_ID.test(match[2]!)) {
    throw new ApiError(
      400,
      'invalid_parameter',
      'Query parameter "cursor" must be the nextCursor of a previous page',
    );
  }
  return { uploadedAt: Number(match[1]), id: match[2]! };
}

/**
 * GET /api/v1/files?status=failed&limit=20&cursor=…: confirmed files, newest first, optionally of
 * one status. `nextCursor` continues the listing; it is null once the oldest file was read. A page
 * with a status filter may hold fewer than `limit` files while `nextCursor` is not null (at most
 * LIST_SCAN_LIMIT files are read per request).
 */
export async function listFiles(ctx: ApiContext, req: ApiRequest): Promise<ApiResponse> {
  const limit = intParam(req, 'limit', 20, 1, 100);
  const status = statusParam(req);
  let position = cursorParam(req);
  const files: FileRecord[] = [];
  let scanned = 0;
  let end = false;
  while (files.length < limit && scanned < LIST_SCAN_LIMIT) {
    const want = Math.min(status ? LIST_BATCH : limit - files.length, LIST_SCAN_LIMIT - scanned);
    const batch = await ctx.records.listNewest(want, position);
    const records = await ctx.records.getMany(batch.map((entry) => entry.id));
    let used = 0;
    for (const [index, entry] of batch.entries()) {
      position = entry;
      scanned++;
      used++;
      const record = records[index];
      // A file deleted between the two reads is simply not listed.
      if (record && (!status || record.status === status)) files.push(record);
      if (files.length === limit) break;
    }
    if (batch.length < want && used === batch.length) {
      end = true;
      break;
    }
  }
  return {
    status: 200,
    body: {
      files: files.map(fileView),
      limit,
      status: status ?? null,
      nextCursor: end || !position ? null : `${position.uploadedAt}.${position.id}`,
    },
  };
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
  await removeFile(ctx, id);
  return { status: 204 };
}
