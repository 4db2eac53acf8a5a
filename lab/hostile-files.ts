// Writes the hostile-file corpus at full size into a directory, for trying a running stack by hand:
//   npm run lab:hostile-files -- /tmp/hostile
//   curl -F file=@/tmp/hostile/inflating.docx -F file=@/tmp/hostile/deep.html \
//        -F file=@/tmp/hostile/inflating.pdf http://localhost:8080/api/v1/files
// test/hostile-corpus.test.ts runs smaller versions of the same files against `qscale start`.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  binaryAsText,
  deepHtml,
  deepJson,
  entityBombDocx,
  hugeHtml,
  inflatingDocx,
  inflatingPdf,
  oneLineCsv,
  pdfWithPages,
} from '../harness/hostile-files.js';

const FILES: Record<string, () => Buffer | Promise<Buffer>> = {
  // ~2 MB that inflates to ~400 MB of ordinary paragraphs (like the 1.5 MB .docx).
  'inflating.docx': () => inflatingDocx(400),
  'entities.docx': entityBombDocx,
  // 2.2 MB: 200 000 nested <div>s.
  'deep.html': () => deepHtml(200_000),
  // ~1 MB whose content stream inflates to 1 GB.
  'inflating.pdf': () => inflatingPdf(1024),
  'pages.pdf': () => pdfWithPages(5000),
  'deep.json': () => deepJson(1_000_000),
  'one-line.csv': () => oneLineCsv(50),
  'huge.html': () => hugeHtml(50),
  'picture.txt': binaryAsText,
};

const dir = resolve(process.argv[2] ?? 'hostile-files');
await mkdir(dir, { recursive: true });
for (const [name, make] of Object.entries(FILES)) {
  const content = await make();
  await writeFile(join(dir, name), content);
  console.log(`${join(dir, name)}  ${(content.length / 1024 / 1024).toFixed(2)} MB`);
}
