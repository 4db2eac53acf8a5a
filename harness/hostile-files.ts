// Hostile files for the tests (and, full-size, for lab/hostile-files.ts): archives and streams
// that inflate far beyond their size, deep nesting, huge single lines, lying extensions.
import { once } from 'node:events';
import { crc32, createDeflate, deflateRawSync, deflateSync } from 'node:zlib';

const MiB = 1024 * 1024;

export interface ZipEntry {
  name: string;
  content: Buffer;
  /** The uncompressed size the archive claims; the real one unless a test makes it lie. */
  declaredSize?: number;
}

/**
 * What a ZIP entry's local header (from byte 4) and its central directory record (from byte 6) both
 * say: version needed 2.0, no flags, deflated, dated 1980-01-01, CRC, sizes and name length.
 */
function writeEntryFields(
  header: Buffer,
  at: number,
  entry: { crc: number; compressed: number; size: number; nameLength: number },
): void {
  header.writeUInt16LE(20, at);
  header.writeUInt16LE(8, at + 4);
  header.writeUInt16LE(0x21, at + 8);
  header.writeUInt32LE(entry.crc, at + 10);
  header.writeUInt32LE(entry.compressed, at + 14);
  header.writeUInt32LE(entry.size, at + 18);
  header.writeUInt16LE(entry.nameLength, at + 22);
}

/** A minimal ZIP writer (deflated entries, no ZIP64): enough for mammoth and for lying headers. */
export function zip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const data = deflateRawSync(entry.content, { level: 1 });
    const crc = crc32(entry.content);
    const size = entry.declaredSize ?? entry.content.length;
    const fields = { crc, compressed: data.length, size, nameLength: name.length };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeEntryFields(local, 4, fields);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // made by: version 2.0
    writeEntryFields(central, 6, fields);
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
export function inflatingDocx(megabytes: number, declaredSize?: number): Buffer {
  const body = Buffer.alloc(
    Math.floor((megabytes * MiB) / PARAGRAPH.length) * PARAGRAPH.length,
    PARAGRAPH,
  );
  const document = Buffer.concat([
    Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="${W}"><w:body>`),
    body,
    Buffer.from('</w:body></w:document>'),
  ]);
  return docxWith(document, declaredSize);
}

/** A .docx with this document.xml (and the two parts Word needs besides). */
function docxWith(document: Buffer, declaredSize?: number): Buffer {
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

export const deepHtml = (depth: number): Buffer =>
  Buffer.from(`<html><body>${'<div>'.repeat(depth)}deep${'</div>'.repeat(depth)}</body></html>`);

/** Bytes of `unit` repeated to `bytes`, deflated (zlib format) without holding them all. */
async function deflateRepeated(unit: string, bytes: number): Promise<Buffer> {
  const deflate = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (part: Buffer) => parts.push(part));
  const block = Buffer.alloc(Math.floor(MiB / unit.length) * unit.length, unit);
  for (let written = 0; written < bytes; written += block.length) {
    const piece = written + block.length <= bytes ? block : block.subarray(0, bytes - written);
    if (!deflate.write(piece)) await once(deflate, 'drain');
  }
  deflate.end();
  await once(deflate, 'end');
  return Buffer.concat(parts);
}

interface PdfObject {
  dictionary: string;
  stream?: Buffer;
}

/** A PDF with these objects (numbered from 1; object 1 is the catalog) and a correct xref. */
function pdf(objects: PdfObject[]): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let length = parts[0]!.length;
  const offsets: number[] = [];
  const push = (part: Buffer) => {
    parts.push(part);
    length += part.length;
  };
  objects.forEach((object, index) => {
    offsets.push(length);
    if (object.stream) {
      push(
        Buffer.from(
          `${index + 1} 0 obj\n<< ${object.dictionary} /Length ${object.stream.length} >>\nstream\n`,
        ),
      );
      push(object.stream);
      push(Buffer.from('\nendstream\nendobj\n'));
    } else {
      push(Buffer.from(`${index + 1} 0 obj\n<< ${object.dictionary} >>\nendobj\n`));
    }
  });
  const xref = [
    'xref',
    `0 ${objects.length + 1}`,
    '0000000000 65535 f ',
    ...offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n `),
    'trailer',
    `<< /Size ${objects.length + 1} /Root 1 0 R >>`,
    'startxref',
    String(length),
    '%%EOF',
    '',
  ].join('\n');
  push(Buffer.from(xref));
  return Buffer.concat(parts);
}

const FONT = { dictionary: '/Type /Font /Subtype /Type1 /BaseFont /Helvetica' };

/** A PDF of `pages` pages, each showing `text` (one shared content stream). */
export function pdfWithPages(pages: number, text = 'page text'): Buffer {
  const content = Buffer.from(`BT /F1 12 Tf 72 720 Td (${text}) Tj ET`);
  const kids = Array.from({ length: pages }, (_, i) => `${i + 5} 0 R`).join(' ');
  return pdf([
    { dictionary: '/Type /Catalog /Pages 2 0 R' },
    { dictionary: `/Type /Pages /Kids [${kids}] /Count ${pages}` },
    { dictionary: '/Filter /FlateDecode', stream: deflateSync(content) },
    FONT,
    ...Array.from({ length: pages }, () => ({
      dictionary:
        '/Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R /Resources << /Font << /F1 4 0 R >> >>',
    })),
  ]);
}

/**
 * A one-page PDF whose content stream inflates to `megabytes` MB: a line of text, then spaces
 * (what pdfjs must still inflate and scan). 1 GB deflates to about 1 MB.
 */
export async function inflatingPdf(megabytes: number): Promise<Buffer> {
  const head = 'BT /F1 12 Tf 72 720 Td (inflating) Tj ET\n';
  const deflated = await deflateRepeated(' ', Math.floor(megabytes * MiB));
  // The text first, then the spaces: two zlib streams cannot be joined, so the text goes in a
  // second content stream of the same page.
  return pdf([
    { dictionary: '/Type /Catalog /Pages 2 0 R' },
    { dictionary: '/Type /Pages /Kids [5 0 R] /Count 1' },
    { dictionary: '/Filter /FlateDecode', stream: deflateSync(Buffer.from(head)) },
    FONT,
    {
      dictionary:
        '/Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [3 0 R 6 0 R] /Resources << /Font << /F1 4 0 R >> >>',
    },
    { dictionary: '/Filter /FlateDecode', stream: deflated },
  ]);
}

/** A PDF with a Flate-compressed image of `megabytes` MB (images are never decoded for text). */
export async function pdfWithLargeImage(megabytes: number): Promise<Buffer> {
  const side = Math.floor(Math.sqrt((megabytes * MiB) / 3));
  const deflated = await deflateRepeated('\x80', side * side * 3);
  return pdf([
    { dictionary: '/Type /Catalog /Pages 2 0 R' },
    { dictionary: '/Type /Pages /Kids [5 0 R] /Count 1' },
    {
      dictionary: '/Filter /FlateDecode',
      stream: deflateSync(Buffer.from('BT /F1 12 Tf 72 720 Td (photo caption) Tj ET')),
    },
    FONT,
    {
      dictionary:
        '/Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R /Resources << /Font << /F1 4 0 R >> /XObject << /Im1 6 0 R >> >>',
    },
    {
      dictionary: `/Type /XObject /Subtype /Image /Width ${side} /Height ${side} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode`,
      stream: deflated,
    },
  ]);
}

/** A .docx whose document.xml declares nested entities ("billion laughs"). */
export function entityBombDocx(): Buffer {
  const entities = ['<!ENTITY l0 "lol lol lol lol lol lol lol lol lol lol ">'];
  for (let i = 1; i <= 9; i++) {
    entities.push(`<!ENTITY l${i} "${`&l${i - 1};`.repeat(10)}">`);
  }
  const document = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE w:document [${entities.join('')}]><w:document xmlns:w="${W}"><w:body><w:p><w:r><w:t>&l9;</w:t></w:r></w:p></w:body></w:document>`,
  );
  return docxWith(document);
}

/** JSON nested `depth` arrays deep. */
export const deepJson = (depth: number): Buffer =>
  Buffer.from(`${'['.repeat(depth)}1${']'.repeat(depth)}`);

/** A CSV of one line: `megabytes` MB of short cells and no line break. */
export const oneLineCsv = (megabytes: number): Buffer => Buffer.alloc(megabytes * MiB, 'cell,');

/** HTML of `megabytes` MB of paragraphs, ending with a marker word. */
export const hugeHtml = (megabytes: number): Buffer =>
  Buffer.concat([
    Buffer.alloc(megabytes * MiB, '<p>words and more words</p>'),
    Buffer.from('<p>END</p>'),
  ]);

/** PNG bytes named as text. */
export const binaryAsText = (): Buffer =>
  Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]),
    Buffer.alloc(1024, 0),
  ]);
