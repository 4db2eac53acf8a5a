import { describe, expect, it } from 'vitest';
import { dot, l2Normalize, packVectors, unpackVectors } from '../src/embedding/vector-math.js';

describe('l2Normalize', () => {
  it('should scale a vector to unit length in place and return it', () => {
    const v = new Float32Array([3, 4]);
    const result = l2Normalize(v);
    expect(result).toBe(v);
    expect(Array.from(v)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
  });

  it('should leave an all-zero vector at zero without NaN', () => {
    const v = l2Normalize(new Float32Array(4));
    expect(Array.from(v)).toEqual([0, 0, 0, 0]);
  });
});

describe('dot', () => {
  it('should score a query against a vector inside a packed array', () => {
    const packed = new Float32Array([1, 0, 0, 0.6, 0.8, 0]);
    const query = new Float32Array([0, 1, 0]);
    expect(dot(query, packed)).toBe(0);
    expect(dot(query, packed, 3)).toBeCloseTo(0.8, 6);
  });

  it('should throw a RangeError when the offset runs past the end', () => {
    const packed = new Float32Array(6);
    expect(() => dot(new Float32Array(3), packed, 4)).toThrow(RangeError);
    expect(() => dot(new Float32Array(3), packed, -1)).toThrow(/offsetB/);
  });
});

describe('packVectors / unpackVectors', () => {
  it('should round-trip vectors as little-endian float32', () => {
    const vectors = [new Float32Array([1.5, -2, 0.25]), new Float32Array([0, 1e-7, 3])];
    const buf = packVectors(vectors);
    expect(buf.byteLength).toBe(24);
    expect(buf.readFloatLE(4)).toBe(-2);
    expect(Array.from(unpackVectors(buf, 3))).toEqual([...vectors[0]!, ...vectors[1]!]);
  });

  it('should copy into an aligned array when the Buffer starts at an odd offset', () => {
    const packed = packVectors([new Float32Array([1, 2]), new Float32Array([3, 4])]);
    const backing = Buffer.alloc(packed.length + 1);
    packed.copy(backing, 1);
    const unaligned = backing.subarray(1);
    expect(unaligned.byteOffset % 4).not.toBe(0);
    expect(Array.from(unpackVectors(unaligned, 2))).toEqual([1, 2, 3, 4]);
  });

  it('should give an empty Buffer for no vectors', () => {
    expect(packVectors([]).byteLength).toBe(0);
    expect(unpackVectors(Buffer.alloc(0), 8)).toHaveLength(0);
  });

  it('should reject vectors of different lengths', () => {
    expect(() => packVectors([new Float32Array(2), new Float32Array(3)])).toThrow(RangeError);
  });

  it('should reject a buffer that is not a whole number of vectors', () => {
    expect(() => unpackVectors(Buffer.alloc(12), 2)).toThrow(/not a multiple of 8 bytes/);
    expect(() => unpackVectors(Buffer.alloc(8), 0)).toThrow(/dim/);
  });
});
