import { z } from 'zod';
import { SUPPORTED_FILE_TYPES, type FileType } from './file-types.js';

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

/** A file id as the upload API makes them (a UUID); the blob store accepts no other. */
export const FILE_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

const FILE_TYPES = SUPPORTED_FILE_TYPES.map(({ type }) => type) as [FileType, ...FileType[]];

const text = { error: 'must be a string' };
const fileJobData = z.object(
  {
    fileId: z
      .string(text)
      .regex(FILE_ID_PATTERN, 'must be a file id (1-128 letters, digits, "_" or "-")'),
    fileName: z.string(text),
    type: z.enum(FILE_TYPES, { error: `must be one of ${FILE_TYPES.join(', ')}` }),
    size: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .nonnegative({ error: 'must be 0 or more' }),
    sha256: z.string(text),
  },
  { error: 'must be an object' },
) satisfies z.ZodType<FileJobData>;

/**
 * A job's data as a {@link FileJobData}, or a message naming every field that is missing or wrong:
 * qscale's queue may hold jobs that another program added by hand.
 */
export function parseFileJobData(data: unknown): FileJobData | string {
  const parsed = fileJobData.safeParse(data);
  if (parsed.success) return parsed.data;
  return parsed.error.issues
    .map((issue) => `${['data', ...issue.path].join('.')} ${issue.message}`)
    .join('; ');
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
