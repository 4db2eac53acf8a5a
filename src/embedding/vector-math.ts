/** True on every platform Node normally runs on; false on big-endian hosts such as s390x. */
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Scales `v` in place to unit length and returns it, so that cosine similarity between two
 * normalised vectors is their {@link dot} product. An all-zero vector (or one whose norm is not a
 * finite number) is left unchanged rather than turned into NaNs.
 */
export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    sum += x * x;
  }
  const norm = Math.sqrt(sum);
  if (norm === 0 || !Number.isFinite(norm)) return v;
  const scale = 1 / norm;
  for (let i = 0; i < v.length; i++) v[i]! *= scale;
  return v;
}

/**
 * Dot product of `a` with the `a.length` values of `b` that start at `offsetB`. With vectors packed
 * back to back in one array (see {@link unpackVectors}), the score of vector `k` against a query is
 * `dot(query, packed, k * query.length)`.
 *
 * @throws RangeError when `offsetB` is not a non-negative integer or `b` is too short.
 */
export function dot(a: Float32Array, b: Float32Array, offsetB = 0): number {
  if (!Number.isInteger(offsetB) || offsetB < 0 || offsetB + a.length > b.length) {
    throw new RangeError(
      `dot: offsetB must be an integer from 0 to ${b.length - a.length} (b has ${b.length} values, a has ${a.length}), got ${offsetB}`,
    );
  }
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[offsetB + i]!;
  return sum;
}

/**
 * Packs vectors of one dimension back to back as little-endian float32, the layout
 * {@link unpackVectors} reads (4 × dimension bytes per vector). An empty list gives an empty Buffer.
 *
 * @throws RangeError when the vectors do not all have the same, non-zero length.
 */
export function packVectors(vectors: Float32Array[]): Buffer {
  if (vectors.length === 0) return Buffer.alloc(0);
  const dim = vectors[0]!.length;
  if (dim === 0) throw new RangeError('packVectors: vectors must not be empty');
  for (let k = 1; k < vectors.length; k++) {
    if (vectors[k]!.length !== dim) {
      throw new RangeError(
        `packVectors: every vector must have ${dim} values like the first, vector ${k} has ${vectors[k]!.length}`,
      );
    }
  }
  const packed = new Float32Array(vectors.length * dim);
  vectors.forEach((v, k) => packed.set(v, k * dim));
  const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  if (!hostIsLittleEndian) buf.swap32();
  return buf;
}

/**
 * Reads vectors written by {@link packVectors} into one Float32Array of `buf.byteLength / 4` values
 * (vector `k` starts at `k * dim`). When the host is little-endian and `buf.byteOffset` is a multiple
 * of 4 the result is a view that shares memory with `buf` (no copy); otherwise the values are copied
 * into a new, aligned array.
 *
 * @throws RangeError when `dim` is not a positive integer or the length is not a whole number of vectors.
 */
export function unpackVectors(buf: Buffer, dim: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 1) {
    throw new RangeError(`unpackVectors: dim must be a positive integer, got ${dim}`);
  }
  const vectorBytes = dim * 4;
  if (buf.byteLength % vectorBytes !== 0) {
    throw new RangeError(
      `unpackVectors: buffer length ${buf.byteLength} is not a multiple of ${vectorBytes} bytes (${dim} float32 values)`,
    );
  }
  const length = buf.byteLength / 4;
  if (hostIsLittleEndian && buf.byteOffset % 4 === 0) {
    return new Float32Array(buf.buffer, buf.byteOffset, length);
  }
  const out = new Float32Array(length);
  if (hostIsLittleEndian) {
    new Uint8Array(out.buffer).set(buf);
  } else {
    for (let i = 0; i < length; i++) out[i] = buf.readFloatLE(i * 4);
  }
  return out;
}
