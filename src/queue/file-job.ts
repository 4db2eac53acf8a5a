import type { FileType } from './file-types.js';

/** The BullMQ job name of a file-processing job. */
export const FILE_JOB_NAME = 'process-file';

/** What a file-processing job carries. The job id is the file id. */
export interface FileJobData {
  fileId: string;
  fileName: string;
  type: FileType;
  size: number;
  sha256: string;
}

/** What a finished file-processing job returns. */
export type FileJobResult =
  | {
      characters: number;
      chunks: number;
      embeddingModel: string;
      embeddingDimensions: number;
    }
  | { skipped: 'deleted' };
