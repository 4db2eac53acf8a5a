/** Turns texts into vectors for brute-force cosine search. */
export interface Embedder {
  /** Which implementation produced the vectors; stored next to them so mixed indexes are detected. */
  readonly provider: 'hash' | 'openai';
  /** The model name; vectors from different models must not be compared. */
  readonly model: string;
  /**
   * Embeds `texts` and resolves to one vector per text, in the same order. Every vector is
   * L2-normalised (or all zero), so cosine similarity is the dot product. Rejects with the signal's
   * reason when `signal` aborts.
   */
  embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]>;
}
