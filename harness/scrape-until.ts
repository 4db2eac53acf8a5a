import { vi } from 'vitest';
import { scrapeMetrics, type PromSample } from './prom-text.js';

/**
 * Scrapes `url` every 100 ms until `check` holds for its samples, or `timeoutMs` passes: then the
 * latest samples (the caller's expects say what is off). Tests only (vi.waitFor); prom-text.ts
 * stays free of vitest for the lab.
 */
export function scrapeUntil(
  url: string,
  check: (samples: PromSample[]) => boolean,
  timeoutMs = 15_000,
): Promise<PromSample[]> {
  return vi
    .waitFor(
      async () => {
        const samples = await scrapeMetrics(url);
        if (!check(samples)) throw new Error('not yet');
        return samples;
      },
      { timeout: timeoutMs, interval: 100 },
    )
    .catch(() => scrapeMetrics(url));
}
