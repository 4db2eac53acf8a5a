import type { FileRecord } from '../pipeline/file-record.js';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** A file record as the API shows it. */
export function fileView(record: FileRecord) {
  const url = `/api/v1/files/${record.id}`;
  return {
    id: record.id,
    name: record.name,
    type: record.type,
    size: record.size,
    sha256: record.sha256,
    status: record.status,
    progress: record.progress,
    attempts: record.attempts,
    uploadedAt: iso(record.uploadedAt),
    startedAt: iso(record.startedAt),
    finishedAt: iso(record.finishedAt),
    error: record.error ?? null,
    result:
      record.status === 'completed'
        ? {
            characters: record.characters ?? 0,
            chunks: record.chunks ?? 0,
            embeddingModel: record.embeddingModel ?? null,
            embeddingDimensions: record.embeddingDimensions ?? null,
          }
        : null,
    statusUrl: url,
    chunksUrl: `${url}/chunks`,
  };
}
