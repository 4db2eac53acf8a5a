import busboy from 'busboy';
import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FILE_JOB_NAME, type FileJobData } from '../../pipeline/file-job.js';
import type { NewFileRecord, UnsettledUpload } from '../../pipeline/file-record.js';
import { describeSupportedTypes, detectFileType } from '../../pipeline/file-types.js';
import type { BlobWriter } from '../../storage/blob-storage.js';
import type { ApiContext } from '../api-context.js';
import { ApiError } from '../../http/api-error.js';
import type { ApiRequest, ApiResponse } from '../../http/api-types.js';
import { fileView } from '../file-view.js';
import { parseIdempotencyKey } from '../idempotency.js';

/**
 * How long a record may stay unconfirmed before Redis drops it by itself. Long enough to outlast a
 * Redis that froze mid-upload (expiry follows the wall clock, so a frozen Redis expires keys the
 * moment it resumes); the settlement makes a kept upload's records permanent.
 */
const PENDING_RECORD_TTL_MS = 15 * 60_000;

interface ReceivedFile {
  record: NewFileRecord;
  writer: BlobWriter;
}

/** Control characters and path separators are dropped from names: they are metadata only. */
function cleanFileName(name: string | undefined): string {
  const cleaned = (name ?? '')
    .replace(/[\p{Cc}\p{Cf}]/gu, '')
    .split(/[/\\]/)
    .pop()!
    .trim()
    .slice(0, 255);
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? 'unnamed' : cleaned;
}

/** A full disk or quota is 507 with a clear message; other write errors stay as they are. */
function storageError(error: unknown, name: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new ApiError(
      507,
      'insufficient_storage',
      `The upload storage is full (${code}) while writing "${name}"; nothing was stored. Retry when space is freed.`,
      { headers: { 'Retry-After': '60' } },
    );
  }
  return error as Error;
}

function counter(onChunk: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onChunk(chunk);
      callback(null, chunk);
    },
  });
}

/**
 * Streams every `file` part of a multipart body to storage, hashing and counting on the way. The
 * first problem wins; the rest of the body is read and discarded so the client gets the answer.
 * On any problem every blob written so far is removed.
 */
async function receiveFiles(ctx: ApiContext, req: ApiRequest): Promise<ReceivedFile[]> {
  const { maxUploadBytes, maxFilesPerRequest } = ctx.config.http;
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // Browsers and curl send names as UTF-8 (busboy's default is latin1); `filename*=` (RFC 5987)
      // carries its own charset.
      defParamCharset: 'utf8',
      limits: { fileSize: maxUploadBytes, files: maxFilesPerRequest, fields: 50, parts: 100 },
    });
  } catch {
    throw new ApiError(
      400,
      'not_multipart',
      'Expected a multipart/form-data body with one or more parts named "file"',
    );
  }
  const received: ReceivedFile[] = [];
  const writes: Promise<void>[] = [];
  let failure: ApiError | Error | undefined;
  const fail = (error: ApiError | Error) => {
    failure ??= error;
  };

  parser.on('file', (field, stream: Readable & { truncated?: boolean }, info) => {
    if (field !== 'file' || failure) {
      stream.resume();
      return;
    }
    const name = cleanFileName(info.filename);
    const type = detectFileType(name, info.mimeType);
    if (!type) {
      stream.resume();
      fail(
        new ApiError(
          415,
          'unsupported_type',
          `"${name}" (${info.mimeType}) is not a type we can extract text from; supported: ${describeSupportedTypes()}`,
          { details: { supported: describeSupportedTypes() } },
        ),
      );
      return;
    }
    writes.push(
      (async () => {
        const id = randomUUID();
        const hash = createHash('sha256');
        let size = 0;
        const writer = await ctx.storage.createWriter(id);
        const file: ReceivedFile = { record: { id, name, type, size: 0, sha256: '' }, writer };
        received.push(file);
        // busboy's part stream goes through a PassThrough: when the write fails (a full disk),
        // pipeline() destroys its streams, and busboy would wait for ever on a destroyed part;
        // this way the part is unpiped and drained, and the request gets its answer.
        const source = new PassThrough();
        stream.pipe(source);
        // pipe() forwards data only: a part that fails or stops short (the body was cut off) must
        // end the write too.
        stream.once('error', (error) => source.destroy(error));
        stream.once('close', () => {
          if (!stream.readableEnded) source.destroy(new Error('the file part ended early'));
        });
        try {
          await pipeline(
            source,
            counter((chunk) => {
              size += chunk.length;
              hash.update(chunk);
            }),
            writer.stream,
          );
        } catch (error) {
          stream.unpipe(source);
          stream.resume();
          fail(storageError(error, name));
          return;
        }
        if (stream.truncated) {
          fail(
            new ApiError(
              413,
              'file_too_large',
              `"${name}" is larger than the limit of ${maxUploadBytes} bytes (MAX_UPLOAD_BYTES)`,
              { details: { maxBytes: maxUploadBytes } },
            ),
          );
          return;
        }
        if (size === 0) {
          fail(new ApiError(400, 'empty_file', `"${name}" is empty; upload a file with content`));
          return;
        }
        file.record.size = size;
        file.record.sha256 = hash.digest('hex');
      })().catch(fail),
    );
  });
  parser.on('filesLimit', () =>
    fail(
      new ApiError(
        400,
        'too_many_files',
        `At most ${maxFilesPerRequest} files per request (MAX_FILES_PER_REQUEST)`,
      ),
    ),
  );
  parser.on('partsLimit', () => fail(new ApiError(400, 'too_many_parts', 'Too many form parts')));
  parser.on('fieldsLimit', () =>
    fail(new ApiError(400, 'too_many_fields', 'Too many form fields')),
  );

  // A client that stops sending is cut off, instead of holding a socket and a .part file; so is
  // one still sending when the whole-request limit is reached.
  const { bodyTimeoutSeconds, requestTimeoutSeconds } = ctx.config.http;
  const stop = (timeout: ApiError) => {
    // First, so that the errors the parser's streams raise as it stops do not take its place.
    fail(timeout);
    parser.destroy(timeout);
  };
  const onIdle = () =>
    stop(
      new ApiError(
        408,
        'body_timeout',
        `The request body sent nothing for ${bodyTimeoutSeconds} s (BODY_TIMEOUT_SECONDS); nothing was stored`,
        { headers: { Connection: 'close' } },
      ),
    );
  let receivedBytes = 0;
  const count = (chunk: Buffer) => {
    receivedBytes += chunk.length;
  };
  req.raw.on('data', count);
  const declared = Number(req.headers['content-length']);
  const deadline =
    requestTimeoutSeconds > 0
      ? setTimeout(
          () =>
            stop(
              new ApiError(
                408,
                'request_timeout',
                `The upload did not arrive within ${requestTimeoutSeconds} s (REQUEST_TIMEOUT_SECONDS): ${receivedBytes}${Number.isSafeInteger(declared) ? ` of ${declared}` : ''} bytes came in; nothing was stored. Send it over a faster link, or raise REQUEST_TIMEOUT_SECONDS`,
                { headers: { Connection: 'close' } },
              ),
            ),
          requestTimeoutSeconds * 1000,
        )
      : undefined;
  req.raw.setTimeout(bodyTimeoutSeconds * 1000, onIdle);
  try {
    await pipeline(req.raw, parser);
  } catch (error) {
    fail(
      error instanceof ApiError
        ? error
        : new ApiError(
            400,
            'bad_multipart',
            `The multipart body could not be read: ${(error as Error).message}`,
          ),
    );
  } finally {
    clearTimeout(deadline);
    req.raw.off('data', count);
    // The socket is gone when the body was cut off.
    if (req.raw.socket) req.raw.setTimeout(0);
    req.raw.off('timeout', onIdle);
  }
  await Promise.all(writes);
  if (!failure && received.length === 0) {
    failure = new ApiError(
      400,
      'no_file',
      'No file in the request: send multipart/form-data with one or more parts named "file"',
    );
  }
  if (failure) {
    await Promise.all(received.map((file) => file.writer.abort()));
    throw failure;
  }
  return received;
}

async function checkBacklog(ctx: ApiContext): Promise<void> {
  const limit = ctx.config.http.maxQueueBacklog;
  if (limit <= 0) return;
  const snapshot = await ctx.sampler.sampleQueue();
  if (snapshot.backlog >= limit) {
    throw new ApiError(
      429,
      'queue_full',
      `The queue has ${snapshot.backlog} waiting jobs, at or over the limit of ${limit} (MAX_QUEUE_BACKLOG); retry later`,
      { headers: { 'Retry-After': '10' }, details: { backlog: snapshot.backlog, limit } },
    );
  }
}

/** How long jobs wait (delayed) for their replicas' confirmation before they run anyway. */
function ackHoldMs(ctx: ApiContext): number {
  return Math.max(30_000, 10 * ctx.config.redis.timeoutMs);
}

/**
 * POST /api/v1/files: store each `file` part and enqueue one job per file.
 *
 * Every Redis call has a deadline (REDIS_TIMEOUT_MS). Until the jobs are sent, a failure removes
 * what was written. Once they are sent, an error may mean "Redis did not answer" rather than "it
 * did not happen": the request is answered 503 and the {@link UploadSettler} decides in the
 * background, once Redis answers, whether the upload happened (kept whole) or not (removed whole).
 */
export async function uploadFiles(ctx: ApiContext, req: ApiRequest): Promise<ApiResponse> {
  const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
  if (ctx.redis.status !== 'ready') {
    throw new ApiError(
      503,
      'redis_unavailable',
      'The queue store (Redis) cannot be reached right now; nothing was stored. Retry later.',
      { headers: { 'Retry-After': '5' } },
    );
  }
  await checkBacklog(ctx);
  const claim = await ctx.idempotency.claim(idempotencyKey);
  if (claim.kind === 'replay') {
    req.raw.resume();
    return claim.response;
  }

  const { minReplicasAck, ackTimeoutMs } = ctx.config.redis;
  let files: ReceivedFile[] = [];
  const committed: string[] = [];
  let unsettled: UnsettledUpload | undefined;
  try {
    files = await receiveFiles(ctx, req);
    for (const file of files) {
      await file.writer.commit();
      committed.push(file.record.id);
    }
    const uploadedAt = Date.now();
    const records = files.map((file) => file.record);
    const views = records.map((record) =>
      fileView({ ...record, status: 'queued', progress: 0, attempts: 0, uploadedAt }),
    );
    const response: ApiResponse = {
      status: 202,
      body: views.length === 1 ? { ...views[0], files: views } : { files: views },
      headers: { Location: views[0]!.statusUrl },
    };
    await ctx.records.createPending(records, uploadedAt, PENDING_RECORD_TTL_MS);
    unsettled = {
      uploadId: randomUUID(),
      records,
      uploadedAt,
      response,
      ...(claim.kind === 'claimed' && {
        idempotency: {
          key: claim.key,
          token: claim.token,
          ttlSeconds: ctx.idempotency.ttlSeconds,
        },
      }),
    };
    // With REDIS_MIN_REPLICAS_ACK the jobs are held (delayed) until the replicas confirm them,
    // so a rollback never races a worker; without it they are ready at once.
    const jobs = await ctx.queue.addBulk(
      records.map((record) => ({
        name: FILE_JOB_NAME,
        data: {
          fileId: record.id,
          fileName: record.name,
          type: record.type,
          size: record.size,
          sha256: record.sha256,
        } satisfies FileJobData,
        opts: { jobId: record.id, ...(minReplicasAck > 0 && { delay: ackHoldMs(ctx) }) },
      })),
    );
    await ctx.records.confirm(
      records.map((record) => record.id),
      uploadedAt,
    );
    if (minReplicasAck > 0) {
      const confirmed = ctx.acker
        ? await ctx.acker.confirm(records.map((record) => ctx.keys.bull(record.id)))
        : 0;
      if (confirmed < minReplicasAck) {
        // Roll back: the held jobs go, then the settlement finds no job and removes the rest.
        await Promise.all(jobs.map((job) => job.remove().catch(() => undefined)));
        throw new ApiError(
          503,
          'replication_unconfirmed',
          `Redis replicated the upload to ${confirmed} of the ${minReplicasAck} replicas required (REDIS_MIN_REPLICAS_ACK) within ${ackTimeoutMs} ms (REDIS_ACK_TIMEOUT_MS); nothing was stored. Retry later.`,
          { headers: { 'Retry-After': '5' }, details: { confirmed, required: minReplicasAck } },
        );
      }
      // Durable now: release the jobs. Should this fail, they run when the hold ends.
      await Promise.all(jobs.map((job) => job.promote())).catch((error: unknown) =>
        ctx.logger.warn({ err: error }, 'could not release held jobs; they run when the hold ends'),
      );
    }
    await ctx.idempotency.complete(claim, response);
    return response;
  } catch (error) {
    if (unsettled) {
      // The jobs were sent: whether they exist is decided once Redis answers, in the background.
      ctx.settler.settle(unsettled);
      throw error;
    }
    // Nothing was enqueued: blobs go now; records and the claim go as soon as Redis takes the
    // commands (they are queued behind anything sent before, so they undo it), or expire.
    await Promise.all(committed.map((id) => ctx.storage.remove(id).catch(() => undefined)));
    void ctx.records.discardPending(files.map((file) => file.record.id)).catch(() => undefined);
    void ctx.idempotency.release(claim);
    throw error;
  }
}
