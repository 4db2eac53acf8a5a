/** How {@link chunkText} cuts text. Both values count UTF-16 code units (JavaScript string length). */
export interface ChunkOptions {
  /** Longest chunk, at least 1. */
  size: number;
  /** Characters shared by consecutive chunks, from 0 to `size - 1`. */
  overlap: number;
}

/** Share of the window, at its end, searched for a natural place to cut. */
const BOUNDARY_SEARCH_RATIO = 0.2;

/** Any whitespace except `\n`. */
const HSPACE = '[^\\S\\n]';
/**
 * Horizontal whitespace at the end of a line. The lookbehind anchors the match at the start of a
 * run, so a long run is scanned once instead of once per position (which would be quadratic).
 */
const TRAILING_SPACE = new RegExp(`(?<!${HSPACE})${HSPACE}+(?=\\n|$)`, 'g');
/** A run between words that is not already a single space (tabs, double spaces, NBSP, …). */
const INNER_SPACE = new RegExp(`(?<=\\S)(?: ${HSPACE}+|[^\\S\\n ]${HSPACE}*)`, 'g');

/**
 * Light clean-up: line endings become `\n`, trailing whitespace goes, runs of whitespace between
 * words become one space (indentation is kept), and three or more line breaks become one blank line.
 */
function normalizeWhitespace(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(TRAILING_SPACE, '')
    .replace(INNER_SPACE, ' ')
    .replace(/\n{3,}/g, '\n\n');
}

function isSpace(code: number): boolean {
  // After normalisation the only whitespace left is " ", "\n" and leading indentation.
  return (
    code === 0x20 ||
    (code >= 0x09 && code <= 0x0d) ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

function isSentenceEnd(code: number): boolean {
  // . ! ? … and their CJK/full-width forms.
  return (
    code === 0x2e ||
    code === 0x21 ||
    code === 0x3f ||
    code === 0x2026 ||
    code === 0x3002 ||
    code === 0xff01 ||
    code === 0xff1f ||
    code === 0xff0e
  );
}

function isCloser(code: number): boolean {
  // ) ] " ' ” ’ » 」 』
  return (
    code === 0x29 ||
    code === 0x5d ||
    code === 0x22 ||
    code === 0x27 ||
    code === 0x201d ||
    code === 0x2019 ||
    code === 0xbb ||
    code === 0x300d ||
    code === 0x300f
  );
}

function isFullWidthSentenceEnd(code: number): boolean {
  return code === 0x3002 || code === 0xff01 || code === 0xff1f;
}

/** Whether `i` falls between the two halves of a surrogate pair. */
function splitsSurrogatePair(s: string, i: number): boolean {
  if (i <= 0 || i >= s.length) return false;
  const before = s.charCodeAt(i - 1);
  const after = s.charCodeAt(i);
  return before >= 0xd800 && before <= 0xdbff && after >= 0xdc00 && after <= 0xdfff;
}

/**
 * Where to end the chunk that starts before `lo` and may run to `end` (exclusive, `end < s.length`):
 * the last paragraph break in `[lo, end]`, else the last sentence end, else the last whitespace,
 * else `end` itself. Scans at most `end - lo + 1` characters.
 */
function findCut(s: string, lo: number, end: number): number {
  let sentence = -1;
  let space = -1;
  for (let i = end; i >= lo; i--) {
    const code = s.charCodeAt(i);
    if (code === 0x0a && s.charCodeAt(i + 1) === 0x0a) return i;
    if (sentence === -1) {
      const prev = s.charCodeAt(i - 1);
      if (isSpace(code)) {
        if (space === -1) space = i;
        if (isSentenceEnd(prev) || (isCloser(prev) && isSentenceEnd(s.charCodeAt(i - 2)))) {
          sentence = i;
        }
      } else if (isFullWidthSentenceEnd(prev)) {
        sentence = i; // CJK text has no space after the full stop.
      }
    }
  }
  if (sentence !== -1) return sentence;
  if (space !== -1) return space;
  // A hard cut; step back rather than split a surrogate pair, if that stays in range.
  return splitsSurrogatePair(s, end) && end - 1 >= lo ? end - 1 : end;
}

function validate(options: ChunkOptions): void {
  const { size, overlap } = options;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(
      `chunkText: options.size must be a whole number of at least 1, got ${size}`,
    );
  }
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= size) {
    throw new RangeError(
      `chunkText: options.overlap must be a whole number from 0 to ${size - 1} (less than options.size), got ${overlap}`,
    );
  }
}

/**
 * Splits `text` into chunks of at most `options.size` characters for embedding.
 *
 * Whitespace is cleaned up lightly first (line endings, trailing spaces, runs of spaces between
 * words; paragraph breaks are kept). Each chunk then ends at the last paragraph break in the final
 * ~20% of its window, else the last sentence end, else the last whitespace, else exactly at
 * `size`. The next chunk starts about `options.overlap` characters before that cut, moved forward
 * to the start of a word when one is near. Chunks are trimmed and never empty; text without any
 * non-whitespace character gives `[]`.
 *
 * Runs in O(n · size / (size - overlap)), i.e. linear for any fixed options: each chunk advances by
 * at least half of `size - overlap`, whatever boundaries the text offers.
 *
 * @throws RangeError when `options.size` is not a whole number ≥ 1 or `options.overlap` is not a
 * whole number in `[0, size)`.
 */
export function chunkText(text: string, options: ChunkOptions): string[] {
  validate(options);
  const { size, overlap } = options;
  const s = normalizeWhitespace(text);
  const n = s.length;
  const minStep = Math.max(1, Math.floor((size - overlap) / 2));
  const boundarySearch = Math.floor(size * BOUNDARY_SEARCH_RATIO);
  const snapSearch = Math.floor(overlap * BOUNDARY_SEARCH_RATIO);
  const chunks: string[] = [];

  let start = 0;
  for (;;) {
    while (start < n && isSpace(s.charCodeAt(start))) start++;
    if (start >= n) break;
    if (n - start <= size) {
      chunks.push(s.slice(start).trimEnd());
      break;
    }
    const end = start + size;
    // Keep `cut - overlap >= start + minStep`, so the next chunk always moves forward.
    const lo = Math.max(end - boundarySearch, start + overlap + minStep);
    const cut = findCut(s, lo, end);
    chunks.push(s.slice(start, cut).trimEnd());
    let rest = cut;
    while (rest < n && isSpace(s.charCodeAt(rest))) rest++;
    if (rest >= n) break; // Only whitespace left: another chunk would repeat the overlap.

    let next = cut - overlap;
    if (overlap > 0 && !isSpace(s.charCodeAt(next - 1))) {
      // Mid-word: start at the next word instead, if one begins close by.
      const limit = Math.min(cut, next + snapSearch);
      for (let i = next; i < limit; i++) {
        if (isSpace(s.charCodeAt(i))) {
          next = i + 1;
          break;
        }
      }
    }
    if (splitsSurrogatePair(s, next)) next++;
    start = next;
  }
  return chunks;
}
