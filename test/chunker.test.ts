import { describe, expect, it } from 'vitest';
import { chunkText } from '../src/worker/chunker.js';

/** Deterministic pseudo-random prose: words of 2-9 letters, sentences, paragraphs. */
function prose(length: number, seed = 1): string {
  let state = seed;
  const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const parts: string[] = [];
  let total = 0;
  while (total < length) {
    const word = 'abcdefghij'.slice(0, 2 + Math.floor(random() * 8));
    const r = random();
    const part = word + (r < 0.02 ? '.\n\n' : r < 0.1 ? '. ' : ' ');
    parts.push(part);
    total += part.length;
  }
  return parts.join('').slice(0, length);
}

/** Length of the longest suffix of `a` that is also a prefix of `b`. */
function sharedLength(a: string, b: string): number {
  for (let n = Math.min(a.length, b.length); n > 0; n--) {
    if (a.endsWith(b.slice(0, n))) return n;
  }
  return 0;
}

describe('chunkText', () => {
  it('should return no chunks for empty or whitespace-only text', () => {
    expect(chunkText('', { size: 100, overlap: 10 })).toEqual([]);
    expect(chunkText(' \r\n\t\n\n  ', { size: 100, overlap: 10 })).toEqual([]);
  });

  it('should return short text as one trimmed chunk', () => {
    expect(chunkText('  Hello world.  \n', { size: 100, overlap: 10 })).toEqual(['Hello world.']);
  });

  it('should normalise line endings and spaces but keep paragraph breaks', () => {
    const text = 'One  two\tthree   \r\nfour\r\n\r\n\r\n\r\nNew paragraph.  ';
    expect(chunkText(text, { size: 100, overlap: 0 })).toEqual([
      'One two three\nfour\n\nNew paragraph.',
    ]);
  });

  it('should keep every chunk within size and never return a blank chunk', () => {
    const text = prose(20_000);
    for (const [size, overlap] of [
      [1000, 200],
      [100, 0],
      [50, 49],
      [7, 3],
      [1, 0],
    ] as const) {
      const chunks = chunkText(text, { size, overlap });
      expect(chunks.length).toBeGreaterThan(1);
      for (const chunk of chunks) {
        expect(chunk.length).toBeLessThanOrEqual(size);
        expect(chunk.trim()).toBe(chunk);
        expect(chunk).not.toBe('');
      }
    }
  });

  it('should cover the whole text, with consecutive chunks overlapping by about overlap', () => {
    const text = prose(20_000, 7);
    const chunks = chunkText(text, { size: 500, overlap: 100 });
    const words = (s: string) => s.split(/\s+/).filter(Boolean);
    expect(chunks.flatMap(words).length).toBeGreaterThan(words(text).length);
    for (let i = 1; i < chunks.length; i++) {
      const shared = sharedLength(chunks[i - 1]!, chunks[i]!);
      expect(shared).toBeGreaterThanOrEqual(60);
      expect(shared).toBeLessThanOrEqual(100);
    }
    expect(text.trimEnd().endsWith(chunks.at(-1)!.slice(-50))).toBe(true);
  });

  it('should not overlap chunks when overlap is 0', () => {
    const text = prose(5000, 3);
    const chunks = chunkText(text, { size: 300, overlap: 0 });
    expect(chunks.join(' ').split(/\s+/)).toEqual(text.trim().split(/\s+/));
  });

  it('should prefer a paragraph break, then a sentence end, then whitespace near the end', () => {
    const paragraph = `${'a'.repeat(85)}\n\n${'b'.repeat(30)}`;
    expect(chunkText(paragraph, { size: 100, overlap: 0 })[0]).toBe('a'.repeat(85));

    const sentence = `${'a '.repeat(40)}end. more words here that run past the window`;
    expect(chunkText(sentence, { size: 100, overlap: 0 })[0]).toMatch(/end\.$/);

    const words = `${'abcdefghi '.repeat(20)}`;
    const chunks = chunkText(words, { size: 95, overlap: 0 });
    expect(chunks[0]).toBe('abcdefghi '.repeat(9).trim());
  });

  it('should cut hard at size when there is no boundary', () => {
    const chunks = chunkText('x'.repeat(250), { size: 100, overlap: 10 });
    expect(chunks.map((c) => c.length)).toEqual([100, 100, 70]);
  });

  it('should not split a surrogate pair at a hard cut', () => {
    const chunks = chunkText('😀'.repeat(100), { size: 51, overlap: 0 });
    for (const chunk of chunks) expect(chunk).not.toMatch(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/u);
    expect(chunks.join('')).toBe('😀'.repeat(100));
  });

  it('should cut CJK text after a full-width full stop', () => {
    const text = '数据处理管道。'.repeat(20);
    const chunks = chunkText(text, { size: 50, overlap: 0 });
    for (const chunk of chunks.slice(0, -1)) expect(chunk).toMatch(/。$/);
  });

  it('should make progress when overlap is close to size', () => {
    const chunks = chunkText(prose(3000, 5), { size: 100, overlap: 99 });
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.length).toBeLessThan(3000);
  });

  it('should chunk 50 MB of text in well under a few seconds', () => {
    const text = prose(64 * 1024, 11).repeat(800); // 50 MiB
    const started = performance.now();
    const chunks = chunkText(text, { size: 1000, overlap: 200 });
    const elapsed = performance.now() - started;
    expect(chunks.length).toBeGreaterThan(50_000);
    expect(elapsed).toBeLessThan(3000);
  });

  it('should throw a RangeError naming size when size is invalid', () => {
    expect(() => chunkText('x', { size: 0, overlap: 0 })).toThrow(RangeError);
    expect(() => chunkText('x', { size: 0, overlap: 0 })).toThrow(/options\.size/);
    expect(() => chunkText('x', { size: 1.5, overlap: 0 })).toThrow(/options\.size/);
    expect(() => chunkText('x', { size: NaN, overlap: 0 })).toThrow(/options\.size/);
  });

  it('should throw a RangeError naming overlap when overlap is negative or not below size', () => {
    expect(() => chunkText('x', { size: 10, overlap: 10 })).toThrow(RangeError);
    expect(() => chunkText('x', { size: 10, overlap: 10 })).toThrow(/options\.overlap/);
    expect(() => chunkText('x', { size: 10, overlap: -1 })).toThrow(/options\.overlap/);
  });
});
