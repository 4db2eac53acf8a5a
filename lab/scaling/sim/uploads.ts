import type { UploadModel } from './sim-conditions.js';

/**
 * When each file's job is added, as the real lab uploads them: files arriving at the same time go
 * in requests of up to `filesPerRequest`, at most `inFlight` requests at once, each taking
 * `requestSeconds` plus `requestSecondsPerFile` per file; a request's jobs are added when it ends.
 * Without a model, each job is added when its file arrives.
 */
export function enqueueTimes(
  arrivals: readonly number[],
  uploads: UploadModel | undefined,
): number[] {
  if (!uploads) return [...arrivals];
  const times = new Array<number>(arrivals.length);
  const batches: number[][] = [];
  for (const [i, at] of arrivals.entries()) {
    const last = batches[batches.length - 1];
    if (last && arrivals[last[0]!] === at && last.length < uploads.filesPerRequest) last.push(i);
    else batches.push([i]);
  }
  // Ends of the requests in flight, ascending.
  const inFlight: number[] = [];
  let clock = 0;
  for (const batch of batches) {
    clock = Math.max(clock, arrivals[batch[0]!]!);
    while (inFlight.length > 0 && inFlight[0]! <= clock) inFlight.shift();
    if (inFlight.length >= uploads.inFlight) clock = Math.max(clock, inFlight.shift()!);
    const end = clock + uploads.requestSeconds + uploads.requestSecondsPerFile * batch.length;
    for (const i of batch) times[i] = end;
    inFlight.push(end);
    inFlight.sort((a, b) => a - b);
  }
  return times;
}
