/**
 * A file's content cannot be turned into text (corrupt PDF, a ".docx" that is not a Word file,
 * invalid JSON, binary data in a text file). Retrying cannot help, so the worker fails the job
 * at once. The message names the file and says what was wrong in plain words.
 */
export class ExtractionError extends Error {
  override readonly name = 'ExtractionError';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
