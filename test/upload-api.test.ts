import { Document, Packer, Paragraph } from 'docx';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, type TestStack } from '../harness/stack.js';

let redis: TestRedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis.stop();
});

async function makePdf(text: string): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  pdf.addPage().drawText(text, { x: 40, y: 700, size: 12, font });
  return Buffer.from(await pdf.save());
}

async function makeDocx(text: string): Promise<Buffer> {
  const doc = new Document({ sections: [{ children: [new Paragraph(text)] }] });
  return Packer.toBuffer(doc);
}

describe('Upload API', () => {
  let stack: TestStack;

  afterEach(async () => {
    await stack?.close();
  });

  describe('happy path', () => {
    it('should take every supported type from upload to completed and make it searchable', async () => {
      stack = await createTestStack(redis);
      const fixtures: [string, Buffer, string][] = [
        [
          'notes.txt',
          Buffer.from('The quick brown fox jumps over the lazy dog.'),
          'quick brown fox',
        ],
        [
          'readme.md',
          Buffer.from('# Title\n\nMarkdown mentions zebra crossings.'),
          'zebra crossings',
        ],
        ['table.csv', Buffer.from('city,river\nLondon,Thames\nParis,Seine\n'), 'Seine'],
        [
          'data.json',
          Buffer.from(JSON.stringify({ planet: { name: 'Jupiter moons' } })),
          'Jupiter moons',
        ],
        [
          'page.html',
          Buffer.from(
            '<html><head><script>var hidden = 1;</script></head><body><p>Kingfisher nest</p></body></html>',
          ),
          'Kingfisher nest',
        ],
        ['report.pdf', await makePdf('Quarterly revenue of lighthouses'), 'lighthouses'],
        ['letter.docx', await makeDocx('Dear committee on marmalade'), 'marmalade'],
      ];
      for (const [name, content, phrase] of fixtures) {
        const upload = await request(stack.app).post('/api/v1/files').attach('file', content, name);
        expect(upload.status, `${name}: ${JSON.stringify(upload.body)}`).toBe(202);
        expect(upload.body).toMatchObject({
          status: 'queued',
          statusUrl: `/api/v1/files/${upload.body.id}`,
        });
        const record = await stack.waitForStatus(upload.body.id, 'completed');
        expect(record.chunks, name).toBeGreaterThan(0);

        const status = await request(stack.app).get(`/api/v1/files/${upload.body.id}`);
        expect(status.status).toBe(200);
        expect(status.body).toMatchObject({
          id: upload.body.id,
          name,
          status: 'completed',
          progress: 100,
          attempts: 1,
          error: null,
          result: { embeddingModel: 'hash-ngram-v1', embeddingDimensions: 256 },
        });
        expect(Date.parse(status.body.startedAt)).toBeGreaterThanOrEqual(
          Date.parse(status.body.uploadedAt),
        );
        expect(Date.parse(status.body.finishedAt)).toBeGreaterThanOrEqual(
          Date.parse(status.body.startedAt),
        );

        const found = await request(stack.app).post('/api/v1/search').send({ query: phrase, k: 1 });
        expect(found.status).toBe(200);
        expect(found.body.results[0], name).toMatchObject({ fileId: upload.body.id });
        expect(found.body.results[0].text).toContain(phrase);
      }
      const html = (
        await request(stack.app).get(
          `/api/v1/files/${(await stack.context.records.listIds())[4]}/chunks`,
        )
      ).body;
      expect(JSON.stringify(html)).not.toContain('hidden');
    });

    it('should page through chunks and restrict search to given files', async () => {
      stack = await createTestStack(redis, { CHUNK_SIZE: '100', CHUNK_OVERLAP: '10' });
      const text = Array.from(
        { length: 40 },
        (_, i) => `Sentence number ${i} about topic${i}.`,
      ).join(' ');
      const a = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from(text), 'long.txt');
      const b = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from('Another file about topic7 and more topic7.'), 'other.txt');
      const record = await stack.waitForStatus(a.body.id, 'completed');
      await stack.waitForStatus(b.body.id, 'completed');
      expect(record.chunks).toBeGreaterThan(5);

      const page1 = await request(stack.app).get(`/api/v1/files/${a.body.id}/chunks?limit=3`);
      expect(page1.body).toMatchObject({
        total: record.chunks,
        offset: 0,
        limit: 3,
        nextOffset: 3,
      });
      expect(page1.body.chunks.map((c: { index: number }) => c.index)).toEqual([0, 1, 2]);
      const last = await request(stack.app).get(
        `/api/v1/files/${a.body.id}/chunks?offset=${record.chunks! - 1}&limit=3`,
      );
      expect(last.body.chunks).toHaveLength(1);
      expect(last.body.nextOffset).toBeNull();

      const onlyB = await request(stack.app)
        .post('/api/v1/search')
        .send({ query: 'topic7', k: 5, fileIds: [b.body.id] });
      expect(onlyB.body.results.length).toBeGreaterThan(0);
      expect(onlyB.body.results.every((r: { fileId: string }) => r.fileId === b.body.id)).toBe(
        true,
      );
    });

    it('should accept several files in one request and enqueue one job per file', async () => {
      stack = await createTestStack(redis);
      const res = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from('first file'), 'one.txt')
        .attach('file', Buffer.from('second file'), 'two.txt');
      expect(res.status).toBe(202);
      expect(res.body.files).toHaveLength(2);
      for (const file of res.body.files) await stack.waitForStatus(file.id, 'completed');
      // BullMQ moves a job to completed just after its record says so.
      await expect
        .poll(async () => (await stack.context.queue.getJobCounts('completed')).completed, {
          timeout: 5000,
          interval: 25,
          message: 'completed jobs',
        })
        .toBe(2);
    });

    it('should return the same file for a retried Idempotency-Key and create no second job', async () => {
      stack = await createTestStack(redis, {}, { worker: false });
      const send = () =>
        request(stack.app)
          .post('/api/v1/files')
          .set('Idempotency-Key', 'upload-42')
          .attach('file', Buffer.from('idempotent content'), 'same.txt');
      const first = await send();
      const second = await send();
      expect(first.status).toBe(202);
      expect(second.status).toBe(202);
      expect(second.body.id).toBe(first.body.id);
      expect(await stack.context.queue.getJobCounts('wait')).toMatchObject({ wait: 1 });
      expect(await stack.context.records.listIds()).toEqual([first.body.id]);
      // The replayed request's body was not stored: one blob only.
      expect(await stack.listUploadFiles()).toHaveLength(1);
    });

    it('should delete a file with its blob, record, chunks and pending job', async () => {
      stack = await createTestStack(redis, {}, { worker: false });
      const keysBefore = await stack.listQueueKeys();
      const res = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from('to delete'), 'x.txt');
      expect((await stack.context.queue.getJobCounts('wait')).wait).toBe(1);
      const del = await request(stack.app).delete(`/api/v1/files/${res.body.id}`);
      expect(del.status).toBe(204);
      expect((await stack.context.queue.getJobCounts('wait')).wait).toBe(0);
      expect(await stack.listUploadFiles()).toEqual([]);
      expect((await request(stack.app).get(`/api/v1/files/${res.body.id}`)).status).toBe(404);
      const keysAfter = (await stack.listQueueKeys()).filter(
        // BullMQ's own bookkeeping keys (id counter, events stream, meta) may appear on first use.
        (key) => !/:(id|events|meta|marker)$/.test(key),
      );
      expect(keysAfter).toEqual(keysBefore.filter((key) => !/:(id|events|meta|marker)$/.test(key)));
    });

    it('should delete a completed file with its chunks and vectors', async () => {
      stack = await createTestStack(redis);
      const res = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from('done soon'), 'y.txt');
      await stack.waitForStatus(res.body.id, 'completed');
      expect((await request(stack.app).delete(`/api/v1/files/${res.body.id}`)).status).toBe(204);
      const left = (await stack.listQueueKeys()).filter(
        (key) => key.includes(res.body.id) && key.includes('qscale'),
      );
      expect(left).toEqual([]);
      const found = await request(stack.app).post('/api/v1/search').send({ query: 'done soon' });
      expect(found.body.results).toEqual([]);
    });
  });

  describe('bad input', () => {
    /** Runs a bad request and asserts it left no file and no Redis key behind. */
    async function expectNothingStored(run: () => Promise<request.Response>) {
      const keysBefore = await stack.listQueueKeys();
      const filesBefore = await stack.listUploadFiles();
      const res = await run();
      expect(await stack.listUploadFiles()).toEqual(filesBefore);
      expect(await stack.listQueueKeys()).toEqual(keysBefore);
      expect(res.body.error?.message, JSON.stringify(res.body)).toEqual(expect.any(String));
      return res;
    }

    it('should answer 413 to a file over MAX_UPLOAD_BYTES and remove the partial file', async () => {
      stack = await createTestStack(redis, { MAX_UPLOAD_BYTES: '1024' }, { worker: false });
      const res = await expectNothingStored(() =>
        request(stack.app).post('/api/v1/files').attach('file', Buffer.alloc(5000, 'a'), 'big.txt'),
      );
      expect(res.status).toBe(413);
      expect(res.body.error.message).toContain('1024 bytes');
    });

    it('should answer 400 to an empty file, a missing file field and a non-multipart body', async () => {
      stack = await createTestStack(redis, {}, { worker: false });
      const empty = await expectNothingStored(() =>
        request(stack.app).post('/api/v1/files').attach('file', Buffer.alloc(0), 'empty.txt'),
      );
      expect(empty.status).toBe(400);
      expect(empty.body.error.code).toBe('empty_file');
      const noField = await expectNothingStored(() =>
        request(stack.app).post('/api/v1/files').attach('upload', Buffer.from('hello'), 'a.txt'),
      );
      expect(noField.status).toBe(400);
      expect(noField.body.error.message).toContain('"file"');
      const json = await expectNothingStored(() =>
        request(stack.app).post('/api/v1/files').send({ file: 'not multipart' }),
      );
      expect(json.status).toBe(400);
    });

    it('should answer 400 to more files than MAX_FILES_PER_REQUEST and keep none of them', async () => {
      stack = await createTestStack(redis, { MAX_FILES_PER_REQUEST: '2' }, { worker: false });
      const res = await expectNothingStored(() =>
        request(stack.app)
          .post('/api/v1/files')
          .attach('file', Buffer.from('1'), '1.txt')
          .attach('file', Buffer.from('2'), '2.txt')
          .attach('file', Buffer.from('3'), '3.txt'),
      );
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain('At most 2 files');
    });

    it('should answer 415 listing the supported types to a type it cannot extract', async () => {
      stack = await createTestStack(redis, {}, { worker: false });
      const res = await expectNothingStored(() =>
        request(stack.app)
          .post('/api/v1/files')
          .attach('file', Buffer.from('ok'), 'fine.txt')
          .attach('file', Buffer.from([0x89, 0x50, 0x4e, 0x47]), 'image.png'),
      );
      expect(res.status).toBe(415);
      expect(res.body.error.message).toContain('.pdf');
      expect(res.body.error.message).toContain('.docx');
    });

    it('should answer 404 to an unknown or malformed id', async () => {
      stack = await createTestStack(redis, {}, { worker: false });
      for (const path of [
        '/api/v1/files/00000000-0000-4000-8000-000000000000',
        '/api/v1/files/not-an-id',
        '/api/v1/files/00000000-0000-4000-8000-000000000000/chunks',
      ]) {
        const res = await request(stack.app).get(path);
        expect(res.status, path).toBe(404);
        expect(res.body.error.message).toContain('No file');
      }
      const del = await request(stack.app).delete(
        '/api/v1/files/00000000-0000-4000-8000-000000000000',
      );
      expect(del.status).toBe(404);
    });

    it('should answer 400 to bad search requests and bad paging', async () => {
      stack = await createTestStack(redis, {}, { worker: false });
      const bad = [
        {},
        { query: '' },
        { query: 'x', k: 0 },
        { query: 'x', k: 1000 },
        { query: 'x', fileIds: ['../x'] },
      ];
      for (const body of bad) {
        const res = await request(stack.app).post('/api/v1/search').send(body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error.message).toContain('Expected JSON');
      }
      const notJson = await request(stack.app)
        .post('/api/v1/search')
        .set('Content-Type', 'application/json')
        .send('{"query": ');
      expect(notJson.status).toBe(400);
      expect(notJson.body.error.code).toBe('invalid_json');
      const upload = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from('x'), 'x.txt');
      const paging = await request(stack.app).get(`/api/v1/files/${upload.body.id}/chunks?limit=0`);
      expect(paging.status).toBe(400);
      expect(paging.body.error.message).toContain('"limit"');
    });

    it('should answer 401 without the right bearer token when API_TOKEN is set', async () => {
      stack = await createTestStack(
        redis,
        { API_TOKEN: 'secret-token-0123456789' },
        { worker: false },
      );
      const none = await expectNothingStored(() =>
        request(stack.app).post('/api/v1/files').attach('file', Buffer.from('x'), 'x.txt'),
      );
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toContain('Bearer');
      const wrong = await request(stack.app)
        .get('/api/v1/files/00000000-0000-4000-8000-000000000000')
        .set('Authorization', 'Bearer secret-token-0123456780');
      expect(wrong.status).toBe(401);
      const right = await request(stack.app)
        .post('/api/v1/files')
        .set('Authorization', 'Bearer secret-token-0123456789')
        .attach('file', Buffer.from('x'), 'x.txt');
      expect(right.status).toBe(202);
      // The scheme in any case (RFC 7235).
      const lower = await request(stack.app)
        .get('/api/v1/files')
        .set('Authorization', 'bearer secret-token-0123456789');
      expect(lower.status).toBe(200);
      expect((await request(stack.app).get('/healthz')).status).toBe(200);
      expect((await request(stack.app).get('/readyz')).status).toBe(200);
    });

    it('should store blobs by id so client file names cannot escape UPLOAD_DIR', async () => {
      stack = await createTestStack(redis, {}, { worker: false });
      for (const name of ['../../etc/passwd.txt', '..\\..\\evil.txt', '/abs/path.txt']) {
        const res = await request(stack.app)
          .post('/api/v1/files')
          .attach('file', Buffer.from('x'), name);
        expect(res.status, name).toBe(202);
        expect(res.body.name).not.toMatch(/[/\\]/);
      }
      const ids = await stack.context.records.listIds();
      const names = await Promise.all(
        ids.map(async (id) => (await stack.context.records.get(id))?.name),
      );
      expect(names.sort()).toEqual(['evil.txt', 'passwd.txt', 'path.txt']);
      const files = await stack.listUploadFiles();
      expect(files).toHaveLength(3);
      for (const file of files) expect(file.startsWith(`${stack.uploadDir}/blobs/`)).toBe(true);
    });

    it('should answer 400 to a part header with raw control characters and store nothing', async () => {
      stack = await createTestStack(redis, {}, { worker: false });
      const res = await expectNothingStored(() =>
        request(stack.app)
          .post('/api/v1/files')
          .attach('file', Buffer.from('x'), 'ctl\u0001\u001bname.txt'),
      );
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('bad_multipart');
    });

    it('should answer 429 with Retry-After when the backlog is at MAX_QUEUE_BACKLOG', async () => {
      stack = await createTestStack(redis, { MAX_QUEUE_BACKLOG: '2' }, { worker: false });
      for (let i = 0; i < 2; i++) {
        const ok = await request(stack.app)
          .post('/api/v1/files')
          .attach('file', Buffer.from(`f${i}`), 'f.txt');
        expect(ok.status).toBe(202);
        // The backlog guard reads through the sampler's 1 s cache; wait it out so it sees the job.
        await new Promise((resolve) => setTimeout(resolve, 1050));
      }
      const res = await expectNothingStored(() =>
        request(stack.app).post('/api/v1/files').attach('file', Buffer.from('more'), 'more.txt'),
      );
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.body.error.message).toContain('MAX_QUEUE_BACKLOG');
    });

    it('should read the backlog afresh for every upload with SAMPLE_TTL_MS=0', async () => {
      stack = await createTestStack(
        redis,
        { MAX_QUEUE_BACKLOG: '2', SAMPLE_TTL_MS: '0' },
        { worker: false },
      );
      // No pause between uploads: the guard's read is not cached, so the third is refused at once.
      for (let i = 0; i < 2; i++) {
        const ok = await request(stack.app)
          .post('/api/v1/files')
          .attach('file', Buffer.from(`f${i}`), 'f.txt');
        expect(ok.status).toBe(202);
      }
      const res = await expectNothingStored(() =>
        request(stack.app).post('/api/v1/files').attach('file', Buffer.from('more'), 'more.txt'),
      );
      expect(res.status).toBe(429);
    });

    it('should answer 400 to an invalid Idempotency-Key', async () => {
      stack = await createTestStack(redis, {}, { worker: false });
      const res = await expectNothingStored(() =>
        request(stack.app)
          .post('/api/v1/files')
          .set('Idempotency-Key', 'x'.repeat(300))
          .attach('file', Buffer.from('x'), 'x.txt'),
      );
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain('Idempotency-Key');
    });

    it('should fail a job of its queue that is not a file job at once, naming the fields, and fail its record', async () => {
      stack = await createTestStack(redis, { JOB_ATTEMPTS: '3' });
      // A record and its job as the API makes them, then jobs another program added by hand.
      const upload = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from('a file'), 'a.txt');
      await stack.waitForStatus(upload.body.id, 'completed');
      await stack.context.records.update(upload.body.id, { status: 'queued' });
      const { queue } = stack.context;
      const bad = [
        ['no-file-id', { fileName: 'x.txt', type: 'text', size: 1, sha256: '' }],
        ['not-an-object', 'a string'],
        ['escaping-id', { fileId: '../../etc', fileName: 'x', type: 'text', size: 1, sha256: '' }],
        ['wrong-type', { ...upload.body, fileId: upload.body.id, type: 'exe', sha256: '' }],
      ] as const;
      for (const [id, data] of bad) {
        await queue.add('process-file', data as never, { jobId: id, attempts: 3 });
      }
      for (const [id] of bad) {
        await expect
          .poll(async () => (await queue.getJob(id))?.finishedOn, { timeout: 10_000 })
          .toBeGreaterThan(0);
      }
      const reasons = Object.fromEntries(
        await Promise.all(
          bad.map(async ([id]) => {
            const job = (await queue.getJob(id))!;
            // Failed for good on its first attempt: no retry would fix it.
            expect(job.attemptsMade, id).toBe(1);
            expect(await job.getState()).toBe('failed');
            return [id, job.failedReason];
          }),
        ),
      );
      expect(reasons['no-file-id']).toBe(
        'job "no-file-id" is not a qscale file job (data.fileId must be a string); add files through the upload API',
      );
      expect(reasons['not-an-object']).toContain('(data must be an object)');
      expect(reasons['escaping-id']).toContain('data.fileId must be a file id');
      expect(reasons['wrong-type']).toContain(
        'data.type must be one of text, markdown, csv, json, html, pdf, docx',
      );
      expect(await stack.context.records.get(upload.body.id)).toMatchObject({
        status: 'failed',
        error: expect.stringContaining('data.type must be one of'),
      });
    });
  });
});
