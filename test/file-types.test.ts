import { describe, expect, it } from 'vitest';
import {
  SUPPORTED_FILE_TYPES,
  describeSupportedTypes,
  detectFileType,
} from '../src/pipeline/file-types.js';

describe('detectFileType', () => {
  const byExtension = SUPPORTED_FILE_TYPES.flatMap(({ type, extensions }) =>
    extensions.map((extension) => [extension, type] as const),
  );

  it.each(byExtension)('should detect %s as %s', (extension, type) => {
    expect(detectFileType(`report${extension}`)).toBe(type);
  });

  it.each([
    ['REPORT.PDF', 'pdf'],
    ['Notes.Md', 'markdown'],
    ['DATA.CSV', 'csv'],
    ['Page.HTM', 'html'],
  ])('should ignore the case of the extension in %s', (fileName, type) => {
    expect(detectFileType(fileName)).toBe(type);
  });

  it('should look only at the base name of a path', () => {
    expect(detectFileType('../../etc/passwd.txt')).toBe('text');
    expect(detectFileType('C:\\Users\\me\\Documents\\plan.docx')).toBe('docx');
    expect(detectFileType('reports.pdf/summary')).toBeUndefined();
  });

  it('should use only the last extension', () => {
    expect(detectFileType('archive.tar.json')).toBe('json');
    expect(detectFileType('invoice.pdf.exe')).toBeUndefined();
  });

  it('should ignore control characters in the name', () => {
    expect(detectFileType('re\u0000port.pdf')).toBe('pdf');
    expect(detectFileType('report.pdf\u0000')).toBe('pdf');
    expect(detectFileType('notes\r\n.md\t')).toBe('markdown');
    expect(detectFileType('evil.exe\u0000.csv')).toBe('csv');
  });

  it('should fall back to the MIME type when there is no extension', () => {
    expect(detectFileType('README', 'text/markdown')).toBe('markdown');
    expect(detectFileType('upload', 'APPLICATION/PDF')).toBe('pdf');
    expect(detectFileType('.txt', 'text/html')).toBe('html');
  });

  it('should ignore MIME type parameters', () => {
    expect(detectFileType('data', 'text/csv; charset=utf-8')).toBe('csv');
    expect(detectFileType('data', ' application/json ;charset=UTF-8')).toBe('json');
  });

  it('should fall back to the MIME type when the extension is unknown', () => {
    expect(detectFileType('scan.bin', 'application/pdf')).toBe('pdf');
    expect(
      detectFileType(
        'letter.tmp',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      ),
    ).toBe('docx');
  });

  it('should prefer a known extension over the MIME type', () => {
    expect(detectFileType('table.csv', 'text/plain')).toBe('csv');
    expect(detectFileType('notes.md', 'application/octet-stream')).toBe('markdown');
  });

  it('should return undefined for unknown extensions without a known MIME type', () => {
    expect(detectFileType('photo.png')).toBeUndefined();
    expect(detectFileType('photo.png', 'image/png')).toBeUndefined();
    expect(detectFileType('blob', 'application/octet-stream')).toBeUndefined();
    expect(detectFileType('script.exe', 'application/x-msdownload')).toBeUndefined();
  });

  it('should return undefined for names without an extension and no MIME type', () => {
    expect(detectFileType('')).toBeUndefined();
    expect(detectFileType('README')).toBeUndefined();
    expect(detectFileType('trailing.')).toBeUndefined();
    expect(detectFileType('.txt')).toBeUndefined();
    expect(detectFileType('../')).toBeUndefined();
  });

  it('should not match names of object properties', () => {
    expect(detectFileType('x.constructor')).toBeUndefined();
    expect(detectFileType('x.__proto__', 'toString')).toBeUndefined();
  });
});

describe('describeSupportedTypes', () => {
  it('should list one extension per supported type', () => {
    expect(describeSupportedTypes()).toBe('.txt, .md, .csv, .json, .html, .pdf, .docx');
  });
});
