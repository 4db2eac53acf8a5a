import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/redis-connection.js';
import type {
  FilePosition,
  FileRecord,
  FileRecordUpdate,
  NewFileRecord,
  UnfinishedRecord,
  UnsettledUpload,
} from './file-record.js';
import { fromHash, pendingFields, toFields } from './file-record-fields.js';
import { withScripts, type RedisWithScripts } from './file-record-scripts.js';
import type { QueueKeys } from '../queue/queue-keys.js';

/** How long the temporary keys of a result being written live, should the worker die. */
const TEMPORARY_RESULT_TTL_MS = 10 * 60_000;

/** How long a settlement's decision is remembered (repeats of it sent meanwhile read it). */
const SETTLE_MARKER_TTL_SECONDS = 3600;

const CHUNK_BATCH = 500;

/** Runs a MULTI or pipeline and throws the first command error, if any. */
async function execOrThrow(batch: { exec(): Promise<[Error | null, unknown][] | null> }) {
  const results = (await batch.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  return results;
}

/**
 * File records, chunks and vectors in Redis. Shared by the upload API (create, read, delete,
 * search) and the workers (progress and results).
 */
export class FileRecords {
  private readonly redis: RedisWithScripts;
  readonly keys: QueueKeys;

  constructor(redis: RedisClient, keys: QueueKeys) {
    this.redis = withScripts(redis);
    this.keys = keys;
  }

  /**
   * Writes new records that expire after `pendingTtlMs` unless {@link confirm} is called: if the
   * job cannot be enqueued and the clean-up fails too, nothing stays behind for long.
   */
  async createPending(records: NewFileRecord[], uploadedAt: number, pendingTtlMs: number) {
    const multi = this.redis.multi();
    for (const record of records) {
      const key = this.keys.file(record.id);
      multi.hset(key, pendingFields(record, uploadedAt));
      multi.pexpire(key, pendingTtlMs);
    }
    await execOrThrow(multi);
  }

  /**
   * Makes pending records permanent, lists them in the file index and adds their sizes to the blob
   * byte total ({@link storedBlobBytes}), in one script.
   */
  async confirm(ids: string[], uploadedAt: number): Promise<void> {
    if (ids.length === 0) return;
    const keys = [this.keys.files(), this.keys.storage(), ...ids.map((id) => this.keys.file(id))];
    await this.redis.qscaleConfirmFiles(keys.length, ...keys, uploadedAt, ...ids);
  }

  /**
   * Bytes of the blobs of the files in the index, as counted when each was confirmed (see
   * BLOB_BYTES_LUA): files confirmed before qscale kept this total are not in it.
   */
  async storedBlobBytes(): Promise<number> {
    return Number((await this.redis.hget(this.keys.storage(), 'blobBytes')) ?? 0);
  }

  /** How many files the index lists. */
  async count(): Promise<number> {
    return this.redis.zcard(this.keys.files());
  }

  /** Up to `count` confirmed files, oldest first, from the `start`th (0-based) on. */
  async listOldest(start: number, count: number): Promise<FilePosition[]> {
    const flat = await this.redis.zrange(this.keys.files(), start, start + count - 1, 'WITHSCORES');
    const page: FilePosition[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      page.push({ id: flat[i]!, uploadedAt: Number(flat[i + 1]) });
    }
    return page;
  }

  async get(id: string): Promise<FileRecord | undefined> {
    return fromHash(await this.redis.hgetall(this.keys.file(id)));
  }

  /** Updates a record unless it was deleted. Returns whether it still exists. */
  async update(id: string, update: FileRecordUpdate): Promise<boolean> {
    const fields = toFields(update);
    if (fields.length === 0) return (await this.redis.exists(this.keys.file(id))) === 1;
    return (await this.redis.qscaleHsetIfExists(this.keys.file(id), ...fields)) === 1;
  }

  /**
   * Stores a file's chunks and vectors and marks it completed, all at once: they are written under
   * temporary keys (which expire if the worker dies) and published by one script, so readers never
   * see half a result. Returns false (and keeps nothing) when the file was deleted meanwhile.
   */
  async complete(
    id: string,
    chunks: string[],
    vectors: Buffer,
    update: FileRecordUpdate,
  ): Promise<boolean> {
    const chunksKey = this.keys.chunks(id);
    const vectorsKey = this.keys.vectors(id);
    // Written aside first (same hash slot: the same key base), published by the script at once.
    const attempt = randomUUID();
    const temporaryChunks = `${chunksKey}:writing:${attempt}`;
    const temporaryVectors = `${vectorsKey}:writing:${attempt}`;
    const pipeline = this.redis.pipeline();
    for (let i = 0; i < chunks.length; i += CHUNK_BATCH) {
      pipeline.rpush(temporaryChunks, ...chunks.slice(i, i + CHUNK_BATCH));
      if (i === 0) pipeline.pexpire(temporaryChunks, TEMPORARY_RESULT_TTL_MS);
    }
    if (vectors.length > 0) pipeline.set(temporaryVectors, vectors, 'PX', TEMPORARY_RESULT_TTL_MS);
    await execOrThrow(pipeline);
    const kept = await this.redis.qscaleCompleteOrDiscard(
      this.keys.file(id),
      chunksKey,
      vectorsKey,
      temporaryChunks,
      temporaryVectors,
      ...toFields(update),
    );
    return kept === 1;
  }

  /**
   * Removes a record with its chunks and vectors, takes it out of the index and subtracts its blob
   * from the blob byte total, in one script. With `onlyFinished`, a file whose record says queued or
   * processing is left whole (`unfinished`). `missing`: there was no record (what else of the file
   * was left is deleted all the same).
   */
  async delete(
    id: string,
    options: { onlyFinished?: boolean } = {},
  ): Promise<'deleted' | 'missing' | 'unfinished'> {
    const deleted = await this.redis.qscaleDeleteFile(
      this.keys.file(id),
      this.keys.chunks(id),
      this.keys.vectors(id),
      this.keys.files(),
      this.keys.storage(),
      id,
      options.onlyFinished ? '1' : '0',
    );
    return deleted === 1 ? 'deleted' : deleted === 0 ? 'missing' : 'unfinished';
  }

  /**
   * Settles an upload whose enqueue had no clear answer (see SETTLE_UPLOAD): `kept` when its jobs
   * exist (records made permanent, the answer stored for replays), `dropped` when they do not
   * (records and idempotency claim removed; the caller removes the blobs).
   */
  async settleUpload(upload: UnsettledUpload): Promise<'kept' | 'dropped'> {
    const keys = [
      this.settleMarker(upload.uploadId),
      this.keys.files(),
      upload.idempotency?.key ?? this.settleMarker(upload.uploadId),
      this.keys.storage(),
    ];
    const args: (string | number)[] = [
      upload.uploadedAt,
      upload.idempotency?.token ?? '',
      JSON.stringify(upload.response),
      upload.idempotency?.ttlSeconds ?? 1,
      SETTLE_MARKER_TTL_SECONDS,
    ];
    for (const record of upload.records) {
      keys.push(this.keys.file(record.id), this.keys.bull(record.id));
      args.push(record.id, JSON.stringify(pendingFields(record, upload.uploadedAt)));
    }
    return this.redis.qscaleSettleUpload(keys.length, ...keys, ...args);
  }

  /** The key that keeps a settlement's decision. */
  settleMarker(uploadId: string): string {
    return this.keys.bull(`qscale:settle:${uploadId}`);
  }

  /** Removes records that were never confirmed (their job could not be enqueued). */
  async discardPending(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.del(...ids.map((id) => this.keys.file(id)));
  }

  async getChunks(
    id: string,
    offset: number,
    limit: number,
  ): Promise<{ total: number; chunks: string[] }> {
    const [total, chunks] = await this.redis.qscaleReadChunks(
      this.keys.chunks(id),
      offset,
      offset + limit - 1,
    );
    return { total: Number(total), chunks };
  }

  /**
   * Up to `count` confirmed files, newest first, starting after `after` (the last file of the
   * previous page). Files uploaded in one request share their upload time: the ones of that time
   * already returned are skipped by id (Redis orders equal scores by member, reversed here).
   */
  async listNewest(count: number, after?: FilePosition): Promise<FilePosition[]> {
    const key = this.keys.files();
    let skip = 0;
    if (after) {
      const sameTime = await this.redis.zrangebyscore(key, after.uploadedAt, after.uploadedAt);
      skip = sameTime.filter((id) => id >= after.id).length;
    }
    const flat = await this.redis.zrevrangebyscore(
      key,
      after ? after.uploadedAt : '+inf',
      '-inf',
      'WITHSCORES',
      'LIMIT',
      skip,
      count,
    );
    const page: FilePosition[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      page.push({ id: flat[i]!, uploadedAt: Number(flat[i + 1]) });
    }
    return page;
  }

  /** The records of these files, undefined where one is gone, in one round trip. */
  async getMany(ids: string[]): Promise<(FileRecord | undefined)[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.file(id));
    const results = await execOrThrow(pipeline);
    return results.map(([, hash]) => fromHash(hash as Record<string, string>));
  }

  /** Ids of all confirmed files, oldest first; `start`/`stop` as in ZRANGE. */
  async listIds(start = 0, stop = -1): Promise<string[]> {
    return this.redis.zrange(this.keys.files(), start, stop);
  }

  /**
   * Of these files, those whose record still says queued or processing, with what became of their
   * jobs — one round trip.
   */
  async findUnfinished(ids: string[]): Promise<UnfinishedRecord[]> {
    if (ids.length === 0) return [];
    // Statuses first: nearly every record is finished, and only the others need their job read.
    const statuses = this.redis.pipeline();
    for (const id of ids) statuses.hmget(this.keys.file(id), 'status', 'uploadedAt');
    const candidates: { id: string; status: UnfinishedRecord['status']; uploadedAt: number }[] = [];
    (await execOrThrow(statuses)).forEach(([, fields], index) => {
      const [status, uploadedAt] = fields as (string | null)[];
      if (status === 'queued' || status === 'processing') {
        candidates.push({ id: ids[index]!, status, uploadedAt: Number(uploadedAt) });
      }
    });
    if (candidates.length === 0) return [];
    const jobs = this.redis.pipeline();
    for (const { id } of candidates) {
      jobs.zscore(this.keys.bull('failed'), id);
      jobs.zscore(this.keys.bull('completed'), id);
      jobs.hmget(this.keys.bull(id), 'timestamp', 'failedReason');
    }
    const results = await execOrThrow(jobs);
    return candidates.map((candidate, index) => {
      const failed = results[3 * index]![1] !== null;
      const completed = results[3 * index + 1]![1] !== null;
      const [created, failedReason] = results[3 * index + 2]![1] as (string | null)[];
      return {
        ...candidate,
        job: failed ? 'failed' : completed ? 'completed' : created === null ? 'missing' : 'pending',
        ...(failedReason && { failedReason }),
      };
    });
  }

  /** Whether each of these files has a record (pending ones included), in one round trip. */
  async existing(ids: string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.exists(this.keys.file(id));
    const results = await execOrThrow(pipeline);
    return results.map(([, count]) => count === 1);
  }

  /** Marks a record failed if it still says queued or processing. Returns whether it did. */
  async failUnfinished(id: string, error: string, finishedAt: number): Promise<boolean> {
    return (await this.redis.qscaleFailIfUnfinished(this.keys.file(id), error, finishedAt)) === 1;
  }

  /**
   * Reads the vectors and the embedding model of many files in one round trip. Files that are
   * missing or not completed are left out.
   */
  async getVectors(
    ids: string[],
  ): Promise<{ id: string; name: string; model: string; dimensions: number; vectors: Buffer }[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) {
      pipeline.hmget(this.keys.file(id), 'status', 'name', 'embeddingModel', 'embeddingDimensions');
      pipeline.getBuffer(this.keys.vectors(id));
    }
    const results = await execOrThrow(pipeline);
    const out = [];
    for (let i = 0; i < ids.length; i++) {
      const meta = results[2 * i]?.[1];
      const vectors = results[2 * i + 1]?.[1];
      const [status, name, model, dimensions] = meta as (string | null)[];
      if (status !== 'completed' || !(vectors instanceof Buffer) || !model) continue;
      out.push({
        id: ids[i]!,
        name: name ?? '',
        model,
        dimensions: Number(dimensions),
        vectors,
      });
    }
    return out;
  }

  /** Reads one chunk's text per (file, index) pair in one round trip. */
  async getChunkTexts(refs: { id: string; index: number }[]): Promise<(string | null)[]> {
    if (refs.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const ref of refs) pipeline.lindex(this.keys.chunks(ref.id), ref.index);
    const results = await execOrThrow(pipeline);
    return results.map(([, text]) => (text as string | null) ?? null);
  }
}
