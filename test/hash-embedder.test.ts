import { describe, expect, it } from 'vitest';
import { createEmbedder } from '../src/embedding/create-embedder.js';
import { HashEmbedder } from '../src/embedding/hash-embedder.js';
import { OpenAiEmbedder } from '../src/embedding/openai-embedder.js';
import { dot } from '../src/embedding/vector-math.js';

function norm(v: Float32Array): number {
  return Math.sqrt(dot(v, v));
}

describe('HashEmbedder', () => {
  const embedder = new HashEmbedder({ dimensions: 256 });

  it('should return one unit vector of the configured dimension per text, in order', async () => {
    const texts = ['alpha beta', 'gamma delta epsilon', 'alpha beta'];
    const vectors = await embedder.embed(texts);
    expect(vectors).toHaveLength(3);
    for (const v of vectors) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v).toHaveLength(256);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
    expect(vectors[0]).toEqual(vectors[2]);
    expect(vectors[0]).not.toEqual(vectors[1]);
  });

  it('should be deterministic across instances, processes and machines', async () => {
    const [a] = await new HashEmbedder({ dimensions: 16 }).embed(['The quick brown fox']);
    const [b] = await new HashEmbedder({ dimensions: 16 }).embed(['The quick brown fox']);
    expect(a).toEqual(b);
    // Pinned values: a change here breaks every vector already stored under 'hash-ngram-v1'.
    expect(Array.from(a!, (x) => Number(x.toFixed(4)))).toMatchInlineSnapshot(`
      [
        0,
        0,
        0,
        0,
        0,
        0,
        0.4472,
        0.4472,
        0.4472,
        -0.4472,
        0.4472,
        0,
        0,
        0,
        0,
        0,
      ]
    `);
  });

  it('should ignore case and punctuation', async () => {
    const [a, b] = await embedder.embed(['Hello, World!', 'hello world']);
    expect(dot(a!, b!)).toBeCloseTo(1, 5);
  });

  it('should score a text highest against itself, then a text sharing words, then an unrelated one', async () => {
    const [query, same, related, unrelated] = await embedder.embed([
      'redis queue workers process uploaded files',
      'redis queue workers process uploaded files',
      'workers take uploaded files from the redis queue',
      'a recipe for lemon cake with fresh berries',
    ]);
    const self = dot(query!, same!);
    const shared = dot(query!, related!);
    const other = dot(query!, unrelated!);
    expect(self).toBeCloseTo(1, 5);
    expect(shared).toBeLessThan(self);
    expect(shared).toBeGreaterThan(0.3);
    expect(other).toBeLessThan(shared);
    expect(Math.abs(other)).toBeLessThan(0.3);
  });

  it('should match words in non-Latin scripts, including Chinese without spaces', async () => {
    const [ru1, ru2, zh1, zh2, zh3] = await embedder.embed([
      'Привет мир',
      'ПРИВЕТ, мир!',
      '文件上传后提取文本',
      '上传文件并提取文本内容',
      '今天天气很好',
    ]);
    expect(dot(ru1!, ru2!)).toBeCloseTo(1, 5);
    expect(dot(zh1!, zh2!)).toBeGreaterThan(dot(zh1!, zh3!) + 0.3);
  });

  it('should give a zero vector without NaN for text without words', async () => {
    const vectors = await embedder.embed(['', '  ...!? ']);
    for (const v of vectors) {
      expect(v).toHaveLength(256);
      expect(v.every((x) => x === 0)).toBe(true);
    }
  });

  it('should return an empty list for no texts', async () => {
    expect(await embedder.embed([])).toEqual([]);
  });

  it('should report its provider and model', () => {
    expect(embedder.provider).toBe('hash');
    expect(embedder.model).toBe('hash-ngram-v1');
    expect(new HashEmbedder({ model: 'custom' }).model).toBe('custom');
  });

  it('should reject with the reason when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(embedder.embed(['text'], controller.signal)).rejects.toThrow('stop');
  });

  it('should throw a RangeError naming dimensions when it is out of range', () => {
    expect(() => new HashEmbedder({ dimensions: 0 })).toThrow(RangeError);
    expect(() => new HashEmbedder({ dimensions: 2.5 })).toThrow(/dimensions/);
  });
});

describe('createEmbedder', () => {
  const base = { dimensions: 64, batchSize: 8, timeoutMs: 1000, maxRetries: 0 };

  it('should build a HashEmbedder for provider hash', () => {
    const embedder = createEmbedder({ ...base, provider: 'hash', model: 'hash-ngram-v1' });
    expect(embedder).toBeInstanceOf(HashEmbedder);
    expect((embedder as HashEmbedder).dimensions).toBe(64);
  });

  it('should build an OpenAiEmbedder for provider openai', () => {
    const embedder = createEmbedder({
      ...base,
      provider: 'openai',
      model: 'text-embedding-3-small',
      url: 'https://api.openai.com/v1',
    });
    expect(embedder).toBeInstanceOf(OpenAiEmbedder);
    expect(embedder.model).toBe('text-embedding-3-small');
  });

  it('should throw when provider openai has no url', () => {
    expect(() => createEmbedder({ ...base, provider: 'openai', model: 'm' })).toThrow(/url/);
  });
});
