import type { FileType } from './file-types.js';

export type FileStatus = 'queued' | 'processing' | 'completed' | 'failed';

/** One uploaded file, as the API reports it. Times are epoch milliseconds. */
export interface FileRecord {
  id: string;
  name: string;
  type: FileType;
  size: number;
  sha256: string;
  status: FileStatus;
  /** 0..100 */
  progress: number;
  uploadedAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Processing attempts started so far. */
  attempts: number;
  error?: string;
  characters?: number;
  chunks?: number;
  embeddingModel?: string;
  embeddingDimensions?: number;
}

export type NewFileRecord = Pick<FileRecord, 'id' | 'name' | 'type' | 'size' | 'sha256'>;

/** Field updates of a record that may exist or may have been deleted meanwhile. */
export type FileRecordUpdate = Partial<
  Pick<
    FileRecord,
    | 'status'
    | 'progress'
    | 'startedAt'
    | 'finishedAt'
    | 'attempts'
    | 'error'
    | 'characters'
    | 'chunks'
    | 'embeddingModel'
    | 'embeddingDimensions'
  >
>;

/** Where a confirmed file sits in the upload-time index. */
export interface FilePosition {
  id: string;
  /** Epoch ms. */
  uploadedAt: number;
}

/** What became of the job of a record that still says queued or processing. */
export interface UnfinishedRecord {
  id: string;
  status: 'queued' | 'processing';
  uploadedAt: number;
  /**
   * `failed`/`completed`: the job ended for good; `missing`: no job (removed, or lost with a
   * Redis that restarted empty); `pending`: waiting, delayed or running.
   */
  job: 'failed' | 'completed' | 'missing' | 'pending';
  /** The job's last error, when it failed. */
  failedReason?: string;
}

/** What {@link FileRecords.settleUpload} needs to know of an upload with an unknown outcome. */
export interface UnsettledUpload {
  /** Unique per upload request; names the marker that keeps the decision. */
  uploadId: string;
  records: NewFileRecord[];
  uploadedAt: number;
  /** The answer a replay of the Idempotency-Key gets when the upload happened. */
  response: unknown;
  idempotency?: { key: string; token: string; ttlSeconds: number };
}
