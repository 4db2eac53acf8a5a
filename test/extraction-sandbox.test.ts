import { monitorEventLoopDelay } from 'node:perf_hooks';
import { crc32, deflateRawSync } from 'node:zlib';
import { Document, Packer, Paragraph } from 'docx';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExtractionError } from '../src/worker/extract/extraction-error.js';
import { ExtractionSandbox } from '../src/worker/extract/extraction-sandbox.js';
import { startRedisServer, type TestRedisServer } from './helpers/redis-server.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

const MiB = 1024 * 1024;

interface ZipEntry {
  name: string;
  content: Buffer;
  /** The uncompressed size the archive claims; the real one unless a test makes it lie. */
  declaredSize?: number;
}

/** A minimal ZIP writer (deflated entries, no ZIP64): enough for mammoth and for lying headers. */
function zip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const data = deflateRawSync(entry.content, { level: 1 });
    const crc = crc32(entry.content);
    const size = entry.declaredSize ?? entry.content.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';
const PARAGRAPH = '<w:p><w:r><w:t>lorem ipsum dolor sit amet </w:t></w:r></w:p>';

/** A .docx whose document.xml is `megabytes` MB of paragraphs (compressed: a few hundred KB). */
function inflatingDocx(megabytes: number, declaredSize?: number): Buffer {
  const body = Buffer.alloc(
    Math.floor((megabytes * MiB) / PARAGRAPH.length) * PARAGRAPH.length,
    PARAGRAPH,
  );
  const document = Buffer.concat([
    Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="${W}"><w:body>`),
    body,
    Buffer.from('</w:body></w:document>'),
  ]);
  return zip([
    {
      name: '[Content_Types].xml',
      content: Buffer.from(
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
      ),
    },
    {
      name: '_rels/.rels',
      content: Buffer.from(
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
      ),
    },
    {
      name: 'word/document.xml',
      content: document,
      ...(declaredSize !== undefined && { declaredSize }),
    },
  ]);
}

const deepHtml = (depth: number): Buffer =>
  Buffer.from(`<html><body>${'<div>'.repeat(depth)}deep${'</div>'.repeat(depth)}</body></html>`);

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

  beforeAll(() => {
    sandbox = new ExtractionSandbox({
      threads: 1,
      timeoutSeconds: 2,
      maxMemoryMb: 64,
      maxCharacters: 1_000_000,
      docxMaxUncompressedMb: 16,
    });
  });

  afterAll(async () => {
    await sandbox.close();
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
