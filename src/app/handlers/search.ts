import { z } from 'zod';
import { dot, unpackVectors } from '../../embedding/vector-math.js';
import type { ApiContext } from '../api-context.js';
import { ApiError } from '../../http/api-error.js';
import type { ApiRequest, ApiResponse } from '../../http/api-types.js';

const searchBody = z.object({
  query: z.string().trim().min(1).max(4000),
  k: z.number().int().min(1).max(100).default(5),
  fileIds: z.array(z.string().uuid()).min(1).max(1000).optional(),
});

/** Files read from Redis per round trip while scanning. */
const SCAN_BATCH = 100;

interface Hit {
  fileId: string;
  fileName: string;
  chunkIndex: number;
  score: number;
}

function parseBody(body: unknown) {
  const parsed = searchBody.safeParse(body ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`,
    );
    throw new ApiError(
      400,
      'invalid_search',
      `Invalid search request (${problems.join('; ')}). Expected JSON {"query": "text", "k": 1-100, "fileIds": ["<file id>", …]}`,
    );
  }
  return parsed.data;
}

/** Keeps the best `k` hits, best first. k ≤ 100, so insertion is cheap. */
function offer(top: Hit[], k: number, hit: Hit): void {
  if (top.length === k && hit.score <= top[k - 1]!.score) return;
  let i = top.length;
  while (i > 0 && top[i - 1]!.score < hit.score) i--;
  top.splice(i, 0, hit);
  if (top.length > k) top.pop();
}

/**
 * POST /api/v1/search: the k chunks most similar to the query by cosine similarity, embedded with
 * the configured embedder. A brute-force scan over every completed file's vectors: fine for
 * thousands of files, linear in the number of chunks.
 */
export async function search(ctx: ApiContext, req: ApiRequest): Promise<ApiResponse> {
  const { query, k, fileIds } = parseBody(req.body);
  const [queryVector] = await ctx.embedder.embed([query]);
  if (!queryVector) throw new Error('the embedder returned no vector for the query');
  const dim = queryVector.length;
  const ids = fileIds ?? (await ctx.records.listIds());
  const top: Hit[] = [];
  let scannedChunks = 0;
  let skippedFiles = 0;
  for (let i = 0; i < ids.length; i += SCAN_BATCH) {
    const files = await ctx.records.getVectors(ids.slice(i, i + SCAN_BATCH));
    for (const file of files) {
      if (file.model !== ctx.embedder.model || file.dimensions !== dim) {
        skippedFiles++;
        continue;
      }
      const vectors = unpackVectors(file.vectors, dim);
      const count = vectors.length / dim;
      scannedChunks += count;
      for (let c = 0; c < count; c++) {
        offer(top, k, {
          fileId: file.id,
          fileName: file.name,
          chunkIndex: c,
          score: dot(queryVector, vectors, c * dim),
        });
      }
    }
  }
  const texts = await ctx.records.getChunkTexts(
    top.map((hit) => ({ id: hit.fileId, index: hit.chunkIndex })),
  );
  return {
    status: 200,
    body: {
      query,
      k,
      model: ctx.embedder.model,
      scannedChunks,
      skippedFiles,
      results: top
        .map((hit, i) => ({ ...hit, score: Number(hit.score.toFixed(6)), text: texts[i] }))
        .filter((hit) => hit.text !== null),
    },
  };
}
