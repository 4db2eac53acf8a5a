import type { Embedder } from './embedder.js';
import { l2Normalize } from './vector-math.js';

export interface HashEmbedderOptions {
  /**
   * Length of every vector (number of hash buckets).
   * @defaultValue 256
   */
  dimensions?: number;
  /**
   * Name recorded with the vectors. Change it whenever tokenisation or hashing changes, so old and
   * new vectors are never compared.
   * @defaultValue 'hash-ngram-v1'
   */
  model?: string;
}

const defaults: Required<HashEmbedderOptions> = { dimensions: 256, model: 'hash-ngram-v1' };

/** Letters, digits and combining marks (needed by Devanagari, Thai, decomposed accents, …). */
const WORD = /[\p{L}\p{N}\p{M}]+/gu;
/** Scripts written without spaces between words: each character is made a token of its own. */
const CJK_TEST = /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}]/u;
const CJK_SPLIT =
  /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}]|[^\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}]+/gu;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const SPACE = 0x20;
/** Hands the event loop back (lock renewals, health checks) after this much uninterrupted work. */
const YIELD_EVERY_MS = 20;

/** FNV-1a, 32-bit, over UTF-16 code units, continuing from state `h`. */
function fnv1a(text: string, h: number = FNV_OFFSET): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: spreads FNV's weak low bits over the whole word. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Lower-cased word tokens, with Han/Kana text split into single characters. */
function tokenize(text: string): string[] {
  const normalized = text.normalize('NFKC').toLowerCase();
  const words = normalized.match(WORD) ?? [];
  if (!CJK_TEST.test(normalized)) return words;
  const tokens: string[] = [];
  for (const word of words) {
    if (CJK_TEST.test(word)) tokens.push(...(word.match(CJK_SPLIT) ?? []));
    else tokens.push(word);
  }
  return tokens;
}

/**
 * A dependency-free embedder based on feature hashing ("the hashing trick").
 *
 * Text is NFKC-normalised, lower-cased and split into Unicode word tokens (Han and Kana characters
 * count as one token each, so Chinese and Japanese get character bigrams). Every unigram and every
 * bigram of adjacent tokens is hashed with 32-bit FNV-1a; the bucket comes from one murmur3-finalised
 * hash of it and the sign (+1/-1, which keeps collisions from piling up) from the top bit of a
 * second one. Each feature adds `1 + ln(tf)` to its bucket and the vector is L2-normalised. The same
 * text gives bit-for-bit the same vector in every process and on every machine.
 *
 * The similarity it captures is **lexical, not semantic**: two texts score high when they share
 * words and word pairs. Synonyms, paraphrases and translations score close to zero ("car" and
 * "automobile" are unrelated to it). Use an {@link Embedder} backed by a model (such as
 * `OpenAiEmbedder`) when meaning matters. A text without any word (empty, punctuation only) gets an
 * all-zero vector, which scores 0 against everything.
 */
export class HashEmbedder implements Embedder {
  readonly provider = 'hash' as const;
  readonly model: string;
  readonly dimensions: number;

  constructor(options: HashEmbedderOptions = {}) {
    const { dimensions, model } = { ...defaults, ...options };
    if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > 65_536) {
      throw new RangeError(
        `HashEmbedder: dimensions must be a whole number from 1 to 65536, got ${dimensions}`,
      );
    }
    if (typeof model !== 'string' || model.trim() === '') {
      throw new RangeError('HashEmbedder: model must be a non-empty string');
    }
    this.dimensions = dimensions;
    this.model = model;
  }

  /**
   * Embeds synchronously in slices, giving the event loop a turn every ~20 ms so a large batch does
   * not starve timers (job lock renewal) in the same process.
   */
  async embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    signal?.throwIfAborted();
    const vectors: Float32Array[] = [];
    let sliceStart = performance.now();
    for (const text of texts) {
      vectors.push(this.embedOne(text));
      if (performance.now() - sliceStart > YIELD_EVERY_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        signal?.throwIfAborted();
        sliceStart = performance.now();
      }
    }
    return vectors;
  }

  /** The vector of one text; {@link embed} is this over a list. */
  embedOne(text: string): Float32Array {
    const counts = new Map<number, number>();
    let previous = -1;
    for (const token of tokenize(text)) {
      const unigram = fnv1a(token);
      counts.set(unigram, (counts.get(unigram) ?? 0) + 1);
      if (previous !== -1) {
        // FNV-1a of `${previousToken} ${token}`; unigrams never contain a space, so never collide.
        const bigram = fnv1a(token, Math.imul(previous ^ SPACE, FNV_PRIME));
        counts.set(bigram, (counts.get(bigram) ?? 0) + 1);
      }
      previous = unigram;
    }
    const vector = new Float32Array(this.dimensions);
    for (const [feature, tf] of counts) {
      const bucket = fmix32(feature) % this.dimensions;
      const sign = fmix32(feature ^ 0x9e3779b9) >>> 31 === 0 ? 1 : -1;
      vector[bucket]! += sign * (1 + Math.log(tf));
    }
    return l2Normalize(vector);
  }
}
