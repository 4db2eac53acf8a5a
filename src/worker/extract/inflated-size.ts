import { createInflate, createInflateRaw } from 'node:zlib';

/**
 * Bytes that deflated data inflates to, counting no further than `stopAt`. The output is streamed
 * and thrown away, so measuring a bomb costs time but no memory (inflated ArrayBuffers live outside
 * the heap an extraction thread's memory limit caps). Data that turns out corrupt counts what it
 * yielded before the error. `format`: `raw` for ZIP entries, `zlib` for PDF FlateDecode streams.
 */
export function inflatedSize(
  deflated: Buffer,
  stopAt: number,
  format: 'raw' | 'zlib',
): Promise<number> {
  return new Promise((resolve) => {
    const inflate = format === 'raw' ? createInflateRaw() : createInflate();
    let size = 0;
    inflate.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size >= stopAt) {
        inflate.destroy();
        resolve(size);
      }
    });
    inflate.on('end', () => resolve(size));
    inflate.on('error', () => resolve(size));
    inflate.end(deflated);
  });
}
