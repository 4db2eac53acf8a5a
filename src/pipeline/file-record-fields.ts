import type { FileType } from './file-types.js';
import type { FileRecord, FileStatus, NewFileRecord } from './file-record.js';

// A file record as the field/value pairs of its Redis hash, and back.

/** The field/value pairs of an update; undefined values are left out. */
export function toFields(update: Record<string, string | number | undefined>): string[] {
  const fields: string[] = [];
  for (const [key, value] of Object.entries(update)) {
    if (value !== undefined) fields.push(key, String(value));
  }
  return fields;
}

/** The fields of a new record, queued and not yet started. */
export function pendingFields(record: NewFileRecord, uploadedAt: number): string[] {
  return toFields({ ...record, status: 'queued', progress: 0, uploadedAt, attempts: 0 });
}

function optionalNumber(value: string | undefined): number | undefined {
  return value === undefined || value === '' ? undefined : Number(value);
}

/** The record a hash holds; undefined for a hash without an id (no record). */
export function fromHash(hash: Record<string, string>): FileRecord | undefined {
  if (!hash.id) return undefined;
  const record: FileRecord = {
    id: hash.id,
    name: hash.name ?? '',
    type: hash.type as FileType,
    size: Number(hash.size),
    sha256: hash.sha256 ?? '',
    status: hash.status as FileStatus,
    progress: Number(hash.progress ?? 0),
    uploadedAt: Number(hash.uploadedAt),
    attempts: Number(hash.attempts ?? 0),
  };
  const optional: Partial<FileRecord> = {
    startedAt: optionalNumber(hash.startedAt),
    finishedAt: optionalNumber(hash.finishedAt),
    error: hash.error || undefined,
    characters: optionalNumber(hash.characters),
    chunks: optionalNumber(hash.chunks),
    embeddingModel: hash.embeddingModel || undefined,
    embeddingDimensions: optionalNumber(hash.embeddingDimensions),
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (record as unknown as Record<string, unknown>)[key] = value;
  }
  return record;
}
