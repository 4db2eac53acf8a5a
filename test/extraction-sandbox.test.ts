import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Document, Packer, Paragraph } from 'docx';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExtractionError } from '../src/worker/extract/extraction-error.js';
import { ExtractionSandbox } from '../src/worker/extract/extraction-sandbox.js';
import {
  deepHtml,
  inflatingDocx,
  inflatingPdf,
  pdfWithLargeImage,
  pdfWithPages,
} from '../harness/hostile-files.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, type TestStack } from '../harness/stack.js';

const MiB = 1024 * 1024;

/**
 * Runs `work` while sampling the main event loop: the longest delay (ms) the loop saw, and how
 * long `work` took to settle.
 */
async function measured<T>(
  work: () => Promise<T>,
): Promise<{ result: PromiseSettledResult<T>; ms: number; maxLoopDelayMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const started = performance.now();
  const [result] = await Promise.allSettled([work()]);
  const ms = performance.now() - started;
  histogram.disable();
  return { result: result!, ms, maxLoopDelayMs: histogram.max / 1e6 };
}

function reasonOf(result: PromiseSettledResult<unknown>): Error {
  if (result.status === 'fulfilled') throw new Error('expected the extraction to fail');
  return result.reason as Error;
}

describe('ExtractionSandbox', () => {
  let sandbox: ExtractionSandbox;
  let pdfSandbox: ExtractionSandbox;

  beforeAll(() => {
    sandbox = new ExtractionSandbox({
      threads: 1,
      timeoutSeconds: 2,
      maxMemoryMb: 64,
      maxCharacters: 1_000_000,
      docxMaxUncompressedMb: 16,
      maxChunks: 50,
    });
    // pdfjs alone needs more than 64 MB of heap.
    pdfSandbox = new ExtractionSandbox({
      timeoutSeconds: 10,
      maxMemoryMb: 256,
      pdfMaxInflatedMb: 16,
      pdfMaxPages: 20,
    });
  });

  afterAll(async () => {
    await Promise.all([sandbox.close(), pdfSandbox.close()]);
  });

  it('should extract a normal file in a thread', async () => {
    const docx = await Packer.toBuffer(
      new Document({ sections: [{ children: [new Paragraph('Kingfisher nest')] }] }),
    );
    await expect(sandbox.extract(docx, 'docx', 'bird.docx')).resolves.toBe('Kingfisher nest\n\n');
    // A Buffer that owns its memory is moved to the thread, not copied; one that shares a pool
    // with other Buffers is copied once, and the pool stays intact.
    const own = Buffer.alloc(64 * 1024, 'a');
    await expect(sandbox.extract(own, 'text', 'a.txt')).resolves.toHaveLength(64 * 1024);
    expect(own.byteLength).toBe(0);
    const pooled = Buffer.from('plain words');
    await expect(sandbox.extract(pooled, 'text', 'b.txt')).resolves.toBe('plain words');
    expect(pooled.toString()).toBe('plain words');
  });

  it('should keep ExtractionError from the thread', async () => {
    const result = sandbox.extract(Buffer.from('{"a":'), 'json', 'broken.json');
    await expect(result).rejects.toBeInstanceOf(ExtractionError);
    await expect(result).rejects.toThrow('"broken.json" is not valid JSON');
  });

  it('should fail a .docx that declares more than DOCX_MAX_UNCOMPRESSED_MB before inflating it', async () => {
    const docx = inflatingDocx(100);
    const { result, ms } = await measured(() => sandbox.extract(docx, 'docx', 'bomb.docx'));
    const error = reasonOf(result);
    expect(error).toBeInstanceOf(ExtractionError);
    expect(error.message).toBe(
      '"bomb.docx" would inflate to more than 16 MB (DOCX_MAX_UNCOMPRESSED_MB)',
    );
    expect(ms).toBeLessThan(1000);
  });

  it('should fail a .docx with more ZIP entries than allowed before inflating it', async () => {
    const few = new ExtractionSandbox({ docxMaxEntries: 2 });
    try {
      await expect(few.extract(inflatingDocx(0.01), 'docx', 'many.docx')).rejects.toThrow(
        '"many.docx" has 3 entries in its ZIP archive, more than the 2 a .docx may have',
      );
    } finally {
      await few.close();
    }
  });

  it('should fail a .docx that lies about its size, once its real size passes the limit', async () => {
    const docx = inflatingDocx(100, 1000);
    const { result, ms, maxLoopDelayMs } = await measured(() =>
      sandbox.extract(docx, 'docx', 'liar.docx'),
    );
    expect(reasonOf(result).message).toBe(
      '"liar.docx" would inflate to more than 16 MB (DOCX_MAX_UNCOMPRESSED_MB)',
    );
    expect(ms).toBeLessThan(1000);
    expect(maxLoopDelayMs).toBeLessThan(200);
  });

  it('should fail a PDF whose content stream inflates past PDF_MAX_INFLATED_MB before pdfjs reads it', async () => {
    const bomb = await inflatingPdf(200);
    expect(bomb.length).toBeLessThan(1 * MiB);
    const { result, ms, maxLoopDelayMs } = await measured(() =>
      pdfSandbox.extract(bomb, 'pdf', 'bomb.pdf'),
    );
    const error = reasonOf(result);
    expect(error).toBeInstanceOf(ExtractionError);
    expect(error.message).toBe(
      '"bomb.pdf" has compressed streams that inflate to more than 16 MB (PDF_MAX_INFLATED_MB)',
    );
    // Counting stops at the limit: far within the 2 s time limit.
    expect(ms).toBeLessThan(1500);
    expect(maxLoopDelayMs).toBeLessThan(200);
    // The same shape under the limit is read, text and all.
    await expect(pdfSandbox.extract(await inflatingPdf(4), 'pdf', 'fine.pdf')).resolves.toBe(
      'inflating',
    );
  });

  it('should not count a PDF’s images against PDF_MAX_INFLATED_MB: text extraction never decodes them', async () => {
    const photo = await pdfWithLargeImage(40);
    await expect(pdfSandbox.extract(photo, 'pdf', 'photo.pdf')).resolves.toBe('photo caption');
  });

  it('should fail a PDF with more than PDF_MAX_PAGES pages before reading a page', async () => {
    await expect(pdfSandbox.extract(pdfWithPages(21), 'pdf', 'long.pdf')).rejects.toThrow(
      '"long.pdf" has 21 pages, more than 20 (PDF_MAX_PAGES)',
    );
    const text = await pdfSandbox.extract(pdfWithPages(20, 'leaf'), 'pdf', 'ok.pdf');
    expect(text.split('\n\n')).toEqual(Array.from({ length: 20 }, () => 'leaf'));
  });

  it('should cut text into chunks in the thread, and fail a file with more than MAX_CHUNKS_PER_FILE chunks with the count', async () => {
    const chunking = { size: 100, overlap: 0 };
    const text = 'word '.repeat(20 * 50);
    const { characters, chunks } = await sandbox.extractChunks(
      Buffer.from(text),
      'text',
      'fits.txt',
      chunking,
    );
    expect(characters).toBe(5000);
    expect(chunks).toHaveLength(50);
    expect(chunks.join(' ')).toBe(text.trim());
    const over = Buffer.from('word '.repeat(20 * 51));
    await expect(sandbox.extractChunks(over, 'text', 'over.txt', chunking)).rejects.toThrow(
      '"over.txt" makes 51 chunks, more than 50 (MAX_CHUNKS_PER_FILE)',
    );
  });

  it('should stop deep HTML at the time limit while the event loop stays responsive, then extract the next file', async () => {
    const { result, ms, maxLoopDelayMs } = await measured(() =>
      sandbox.extract(deepHtml(200_000), 'html', 'deep.html'),
    );
    const error = reasonOf(result);
    expect(error).toBeInstanceOf(ExtractionError);
    expect(error.message).toBe(
      '"deep.html" took longer than 2 s to extract (EXTRACT_TIMEOUT_SECONDS)',
    );
    expect(ms).toBeGreaterThanOrEqual(1990);
    expect(ms).toBeLessThan(2500);
    expect(maxLoopDelayMs).toBeLessThan(200);
    await expect(sandbox.extract(Buffer.from('<p>after</p>'), 'html', 'next.html')).resolves.toBe(
      'after',
    );
  });

  it('should fail a file that needs more than EXTRACT_MAX_MEMORY_MB, then extract the next file', async () => {
    // 40 MB of JSON leaves: every line becomes its own string, far beyond a 64 MB heap.
    const json = Buffer.from(JSON.stringify(Array.from({ length: 2_000_000 }, (_, i) => i)));
    const { result, maxLoopDelayMs } = await measured(() =>
      sandbox.extract(json, 'json', 'wide.json'),
    );
    const error = reasonOf(result);
    expect(error).toBeInstanceOf(ExtractionError);
    expect(error.message).toBe(
      '"wide.json" needed more than 64 MB of memory to extract (EXTRACT_MAX_MEMORY_MB)',
    );
    expect(maxLoopDelayMs).toBeLessThan(200);
    await expect(sandbox.extract(Buffer.from('ok'), 'text', 'next.txt')).resolves.toBe('ok');
  });

  it('should fail text beyond EXTRACT_MAX_CHARACTERS with its length, never cut it short', async () => {
    const text = Buffer.alloc(1_500_000, 'abc ');
    await expect(sandbox.extract(text, 'text', 'long.txt')).rejects.toThrow(
      '"long.txt" has 1500000 characters of text, more than 1000000 (EXTRACT_MAX_CHARACTERS)',
    );
  });

  it('should read HTML beyond html-to-text’s 16 MiB input limit whole', async () => {
    const wide = new ExtractionSandbox({ timeoutSeconds: 30, maxCharacters: 50_000_000 });
    try {
      const html = Buffer.from(`<p>${'word '.repeat(4_000_000)}END</p>`);
      const text = await wide.extract(html, 'html', 'big.html');
      expect(text.length).toBe(20_000_003);
      expect(text.endsWith('word END')).toBe(true);
    } finally {
      await wide.close();
    }
  });

  it('should terminate a busy thread at once on close', async () => {
    const closing = new ExtractionSandbox({ timeoutSeconds: 60 });
    const busy = closing.extract(deepHtml(200_000), 'html', 'deep.html');
    busy.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    await closing.close();
    await expect(busy).rejects.toThrow('extraction stopped: the worker is closing');
    expect(performance.now() - started).toBeLessThan(500);
    await expect(closing.extract(Buffer.from('x'), 'text', 'x.txt')).rejects.toThrow(
      'extraction stopped',
    );
  });
});

describe('FileWorker with hostile files', () => {
  let redis: TestRedisServer;
  let stack: TestStack | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  afterAll(async () => {
    await redis.stop();
  });

  it('should fail a hostile file at once with its reason, then complete a normal upload', async () => {
    stack = await createTestStack(redis, {
      EXTRACT_TIMEOUT_SECONDS: '2',
      EXTRACT_MAX_MEMORY_MB: '64',
      JOB_ATTEMPTS: '3',
    });
    const hostile = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', deepHtml(200_000), 'deep.html');
    expect(hostile.status).toBe(202);
    const failed = await stack.waitForStatus(hostile.body.id, 'failed', 10_000);
    expect(failed.error).toBe(
      '"deep.html" took longer than 2 s to extract (EXTRACT_TIMEOUT_SECONDS)',
    );
    expect(failed.attempts).toBe(1);

    const normal = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('<p>Kingfisher nest</p>'), 'page.html');
    const completed = await stack.waitForStatus(normal.body.id, 'completed');
    expect(completed.characters).toBe('Kingfisher nest'.length);
  });
});
