import { randomBytes } from 'node:crypto';
import { Document, Packer, Paragraph, TextRun } from 'docx';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { extractText, JSON_MAX_DEPTH } from '../src/worker/extract/extract-text.js';
import { ExtractionError } from '../src/worker/extract/extraction-error.js';

async function makePdf(pages: string[][]): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = pdf.addPage([595, 842]);
    lines.forEach((line, index) => {
      page.drawText(line, { x: 50, y: 780 - index * 24, size: 14, font });
    });
  }
  return Buffer.from(await pdf.save());
}

async function makeDocx(paragraphs: string[]): Promise<Buffer> {
  const document = new Document({
    sections: [
      {
        children: paragraphs.map(
          (text, index) => new Paragraph({ children: [new TextRun({ text, bold: index === 0 })] }),
        ),
      },
    ],
  });
  return Packer.toBuffer(document);
}

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('ExtractionError', () => {
  it('should be an Error named ExtractionError', () => {
    const err = new ExtractionError('"a.pdf" is not a readable PDF: broken', { cause: 'x' });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ExtractionError');
    expect(err.cause).toBe('x');
    expect(String(err)).toBe('ExtractionError: "a.pdf" is not a readable PDF: broken');
  });
});

describe('extractText', () => {
  describe('text, markdown and csv', () => {
    it('should return UTF-8 text without the BOM, keeping non-ASCII characters', async () => {
      const data = Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        utf8('Grüße, 世界 🎉\nzweite Zeile'),
      ]);
      await expect(extractText(data, 'text', 'greeting.txt')).resolves.toBe(
        'Grüße, 世界 🎉\nzweite Zeile',
      );
    });

    it('should keep markdown syntax', async () => {
      const markdown = '# Title\n\n- item with **bold** and [a link](https://example.com)\n';
      await expect(extractText(utf8(markdown), 'markdown', 'notes.md')).resolves.toBe(markdown);
    });

    it('should keep CSV as it is', async () => {
      const csv = 'name,city\r\n"Doe, Jane",Zürich\r\n';
      await expect(extractText(utf8(csv), 'csv', 'people.csv')).resolves.toBe(csv);
    });

    it('should return an empty string for an empty file', async () => {
      await expect(extractText(Buffer.alloc(0), 'text', 'empty.txt')).resolves.toBe('');
    });

    it('should reject a file with NUL bytes', async () => {
      const result = extractText(utf8('abc\u0000def'), 'text', 'binary.txt');
      await expect(result).rejects.toBeInstanceOf(ExtractionError);
      await expect(result).rejects.toThrow('"binary.txt" is not a UTF-8 text file');
    });

    it('should reject UTF-16 text, which contains NUL bytes', async () => {
      const data = Buffer.from('\ufeffhello', 'utf16le');
      await expect(extractText(data, 'csv', 'export.csv')).rejects.toThrow(
        '"export.csv" is not a UTF-8 text file',
      );
    });

    it('should reject bytes that are not valid UTF-8', async () => {
      const latin1 = Buffer.from('café', 'latin1');
      const result = extractText(latin1, 'markdown', 'legacy.md');
      await expect(result).rejects.toBeInstanceOf(ExtractionError);
      await expect(result).rejects.toThrow('"legacy.md" is not a UTF-8 text file');
    });
  });

  describe('json', () => {
    it('should write one line per leaf value with its path', async () => {
      const json = {
        title: 'Quarterly report',
        meta: { author: { name: 'Ana', tags: ['finance', 'q3'] }, draft: false },
        rows: [
          { id: 1, total: 9.5 },
          { id: 2, total: null },
        ],
        empty: {},
        none: [],
        'odd key': 'x',
      };
      await expect(extractText(utf8(JSON.stringify(json)), 'json', 'report.json')).resolves.toBe(
        [
          'title: Quarterly report',
          'meta.author.name: Ana',
          'meta.author.tags[0]: finance',
          'meta.author.tags[1]: q3',
          'meta.draft: false',
          'rows[0].id: 1',
          'rows[0].total: 9.5',
          'rows[1].id: 2',
          'rows[1].total: null',
          'empty: {}',
          'none: []',
          '["odd key"]: x',
        ].join('\n'),
      );
    });

    it('should accept a top-level scalar or array and a BOM', async () => {
      await expect(extractText(utf8('"just text"'), 'json', 'a.json')).resolves.toBe('just text');
      await expect(extractText(utf8('\ufeff[1,"two"]'), 'json', 'b.json')).resolves.toBe(
        '[0]: 1\n[1]: two',
      );
    });

    it('should read nesting up to its limit, and fail past it however deep', async () => {
      const nested = (depth: number) => utf8('['.repeat(depth) + '"deep"' + ']'.repeat(depth));
      const text = await extractText(nested(JSON_MAX_DEPTH), 'json', 'deep.json');
      expect(text).toBe(`${'[0]'.repeat(JSON_MAX_DEPTH)}: deep`);
      // Past it, up to deeper than the call stack allows (JSON.parse takes it): no result made of
      // brackets, a failure that says why.
      for (const depth of [JSON_MAX_DEPTH + 1, 200_000]) {
        await expect(extractText(nested(depth), 'json', 'deep.json')).rejects.toThrow(
          `"deep.json" nests values more than ${JSON_MAX_DEPTH} levels deep: its text cannot be read whole`,
        );
      }
      const objects = `${'{"a":'.repeat(JSON_MAX_DEPTH + 1)}1${'}'.repeat(JSON_MAX_DEPTH + 1)}`;
      await expect(extractText(utf8(objects), 'json', 'objects.json')).rejects.toThrow(
        /nests values more than 512 levels deep/,
      );
    });

    it('should reject invalid JSON with the parser message', async () => {
      const result = extractText(utf8('{"a": 1,}'), 'json', 'broken.json');
      await expect(result).rejects.toBeInstanceOf(ExtractionError);
      await expect(result).rejects.toThrow(/^"broken\.json" is not valid JSON: .+/);
    });

    it('should reject JSON that is not UTF-8', async () => {
      await expect(
        extractText(Buffer.from('{"a":"café"}', 'latin1'), 'json', 'latin.json'),
      ).rejects.toThrow('"latin.json" is not a UTF-8 text file');
    });
  });

  describe('html', () => {
    const html = `<!doctype html>
      <html>
        <head>
          <title>Ignored title</title>
          <style>body { color: red } .secret-style {}</style>
          <script>var secretScript = "do not index";</script>
        </head>
        <body>
          <h1>Annual Summary</h1>
          <p>Read <a href="https://example.com/very/long/url">the full report</a> &amp; enjoy
             <img src="chart.png" alt="chart alt text">a long paragraph that must not be wrapped at eighty characters or anywhere else.</p>
          <table><tr><th>Name</th><th>Total</th></tr><tr><td>Ana</td><td>12</td></tr></table>
          <script type="module">moduleSecret()</script>
        </body>
      </html>`;

    it('should return the visible text without scripts, styles, images or link targets', async () => {
      const text = await extractText(utf8(html), 'html', 'summary.html');
      expect(text).toContain('Annual Summary');
      expect(text).toContain(
        'Read the full report & enjoy a long paragraph that must not be wrapped at eighty characters or anywhere else.',
      );
      expect(text).toMatch(/Name\s+Total\nAna\s+12/);
      for (const hidden of ['secret', 'color: red', 'moduleSecret', 'example.com', 'chart', '[']) {
        expect(text).not.toContain(hidden);
      }
    });

    it('should return an empty string for markup without text', async () => {
      await expect(
        extractText(utf8('<html><script>x()</script></html>'), 'html', 'blank.htm'),
      ).resolves.toBe('');
    });

    it('should read nesting up to 512 levels, and fail deeper nesting rather than drop its text', async () => {
      const nested = (depth: number) =>
        utf8(`<p>top</p>${'<div>'.repeat(depth)}deep${'</div>'.repeat(depth)}<p>end</p>`);
      await expect(extractText(nested(500), 'html', 'ok.html')).resolves.toBe('top\n\ndeep\n\nend');
      await expect(extractText(nested(600), 'html', 'deep.html')).rejects.toThrow(
        '"deep.html" nests elements more than 512 levels deep: its text cannot be read whole',
      );
    });
  });

  describe('pdf', () => {
    // pdfjs reports problems with console.warn("Warning: …") (and console.log/info) unless told
    // not to; a worker must not print them for every odd PDF.
    let consoleSpies: MockInstance[] = [];

    beforeEach(() => {
      consoleSpies = (['log', 'info', 'warn', 'error'] as const).map((method) =>
        vi.spyOn(console, method),
      );
    });

    afterEach(() => {
      try {
        for (const spy of consoleSpies) {
          expect(spy).not.toHaveBeenCalled();
        }
      } finally {
        vi.restoreAllMocks();
      }
    });

    it('should return the text of every page, pages separated by a blank line', async () => {
      const pdf = await makePdf([
        ['First page heading', 'Café menu for Monday'],
        ['Second page text', 'The end'],
      ]);
      await expect(extractText(pdf, 'pdf', 'menu.pdf')).resolves.toBe(
        'First page heading\nCafé menu for Monday\n\nSecond page text\nThe end',
      );
    });

    it('should return an empty string for a PDF without text', async () => {
      await expect(extractText(await makePdf([[]]), 'pdf', 'scan.pdf')).resolves.toBe('');
    });

    it('should not change the buffer it was given', async () => {
      const pdf = await makePdf([['Keep me']]);
      const copy = Buffer.from(pdf);
      await extractText(pdf, 'pdf', 'keep.pdf');
      expect(pdf.equals(copy)).toBe(true);
    });

    it('should reject random bytes', async () => {
      const result = extractText(randomBytes(4096), 'pdf', 'random.pdf');
      await expect(result).rejects.toBeInstanceOf(ExtractionError);
      await expect(result).rejects.toThrow(
        '"random.pdf" is not a readable PDF: it does not start with a PDF header',
      );
    });

    it('should reject a file with a PDF header but no PDF structure', async () => {
      const data = Buffer.concat([utf8('%PDF-1.7\n'), randomBytes(2048)]);
      const result = extractText(data, 'pdf', 'reports/broken.pdf');
      await expect(result).rejects.toBeInstanceOf(ExtractionError);
      await expect(result).rejects.toThrow('"reports/broken.pdf" is not a readable PDF: ');
    });

    it('should reject a truncated PDF', async () => {
      const pdf = await makePdf([['Cut short']]);
      const result = extractText(pdf.subarray(0, 200), 'pdf', 'truncated.pdf');
      await expect(result).rejects.toBeInstanceOf(ExtractionError);
      await expect(result).rejects.toThrow('"truncated.pdf" is not a readable PDF');
    });
  });

  describe('docx', () => {
    it('should return the paragraphs of the document', async () => {
      const docx = await makeDocx(['Meeting notes', 'Attendees: Ana, Bo', 'Nächste Schritte']);
      const text = await extractText(docx, 'docx', 'notes.docx');
      expect(text.trim().split(/\n+/)).toEqual([
        'Meeting notes',
        'Attendees: Ana, Bo',
        'Nächste Schritte',
      ]);
    });

    it('should reject a plain text file named .docx', async () => {
      const result = extractText(utf8('just some text'), 'docx', 'fake.docx');
      await expect(result).rejects.toBeInstanceOf(ExtractionError);
      await expect(result).rejects.toThrow(
        '"fake.docx" is not a readable DOCX (Word) document: it is not a ZIP archive',
      );
    });

    it('should reject a corrupt ZIP archive', async () => {
      const docx = await makeDocx(['Cut short']);
      const result = extractText(docx.subarray(0, docx.length / 2), 'docx', 'cut.docx');
      await expect(result).rejects.toBeInstanceOf(ExtractionError);
      await expect(result).rejects.toThrow('"cut.docx" is not a readable DOCX (Word) document: ');
    });
  });

  it('should escape control characters of the file name in messages', async () => {
    await expect(extractText(utf8('{'), 'json', 'bad\nname.json')).rejects.toThrow(
      /^"bad\\nname\.json" is not valid JSON/,
    );
  });
});
