import type { Readable, Writable } from 'node:stream';

/** A blob being written. Nothing is visible under its id until {@link commit} succeeds. */
export interface BlobWriter {
  readonly stream: Writable;
  /** Makes the written bytes the blob's content (after `stream` has finished). */
  commit(): Promise<void>;
  /** Throws away what was written. Safe to call more than once and after a failure. */
  abort(): Promise<void>;
}

/**
 * Where uploaded files live between the upload API and the workers. `local` is a directory (in
 * Kubernetes a shared ReadWriteMany volume); an object store fits the same interface.
 */
export interface BlobStorage {
  createWriter(id: string): Promise<BlobWriter>;
  read(id: string): Promise<Buffer>;
  openRead(id: string): Readable;
  exists(id: string): Promise<boolean>;
  /** Removes a blob; removing one that is not there is not an error. */
  remove(id: string): Promise<void>;
  /** Ids of the committed blobs last written before `before` (epoch ms), in no order. */
  listBlobs(before: number): AsyncIterable<string>;
  /**
   * Removes writes that were never committed or aborted (their process died) and started before
   * `before` (epoch ms). Returns how many went.
   */
  removeUnfinished(before: number): Promise<number>;
}

/** The blob is not in storage (deleted, or never committed). */
export class BlobNotFoundError extends Error {
  constructor(id: string) {
    super(`blob ${id} is not in storage`);
    this.name = 'BlobNotFoundError';
  }
}
