/**
 * The files the lab uploads. Sleep-bound jobs are tiny text files (their cost is the embedding
 * API's answer time); the CPU-bound mix cycles through the types the worker extracts itself, sized
 * so that each job costs ~0.05–0.3 s of CPU on this machine (extraction in the worker's sandbox,
 * chunking, local hash embeddings, storing the chunks).
 */
import { inflatingDocx, pdfWithPages } from '../../harness/hostile-files.js';

export type JobMix = 'sleep' | 'cpu';

export interface LabFile {
  name: string;
  data: Buffer;
}

const words = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => `word${(i * 7 + seed) % 997} text`).join(' ');

/** The CPU-bound kinds, in the order they cycle. */
const CPU_KINDS: readonly ((i: number) => LabFile)[] = [
  (i) => ({ name: `report-${i}.pdf`, data: pdfWithPages(60, words(60, i)) }),
  (i) => ({ name: `notes-${i}.docx`, data: inflatingDocx(0.3) }),
  (i) => ({
    name: `page-${i}.html`,
    data: Buffer.from(
      `<html><body>${Array.from({ length: 600 }, (_, p) => `<p>${words(40, i + p)}</p>`).join('')}</body></html>`,
    ),
  }),
  (i) => ({
    name: `table-${i}.csv`,
    data: Buffer.from(Array.from({ length: 3000 }, (_, r) => `${r},${words(8, i + r)}`).join('\n')),
  }),
  (i) => ({ name: `readme-${i}.md`, data: Buffer.from(words(30_000, i)) }),
];

/** The kinds of the CPU-bound mix, for the report. */
export const CPU_MIX_DESCRIPTION =
  'a 60-page PDF, a DOCX of 0.3 MB of text, a 280 KB HTML page, a 3 000-row CSV and a 390 KB Markdown file, in turn';

/** The `i`-th file of a trace. */
export function labFile(mix: JobMix, i: number): LabFile {
  if (mix === 'sleep') {
    return { name: `f${i}.txt`, data: Buffer.from(`lab file ${i}: words to embed`) };
  }
  return CPU_KINDS[i % CPU_KINDS.length]!(i);
}
