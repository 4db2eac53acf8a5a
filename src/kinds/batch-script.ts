/**
 * A script that reads one queue (`KEYS[1..keysPerQueue]`, `ARGV[1..argsPerQueue]`, ending in
 * `return …`) turned into one that reads many in one run: ARGV[1] is the number of queues, then
 * come each queue's keys, and each queue's args, in turn; it answers the list of the one-queue
 * replies. `sharedArgs` args (the body's `shared[i]`) come once, after the number of queues,
 * before the queues' own. One run per batch instead of one per queue: the script's fixed cost (its call, its
 * KEYS and ARGV, its reply) is paid once. `prelude` holds functions that use neither.
 */
export function batchScript(
  prelude: string,
  body: string,
  keysPerQueue: number,
  argsPerQueue: number,
  sharedArgs = 0,
): string {
  const shifted = body
    .replace(/KEYS\[(\d+)\]/g, 'KEYS[k + $1]')
    .replace(/ARGV\[(\d+)\]/g, 'ARGV[a + $1]');
  return `${prelude}
local shared = {}
for i = 1, ${sharedArgs} do shared[i] = ARGV[1 + i] end
local function one(k, a)
${shifted}
end
local out = {}
for i = 0, tonumber(ARGV[1]) - 1 do
  out[i + 1] = one(i * ${keysPerQueue}, 1 + ${sharedArgs} + i * ${argsPerQueue})
end
return out
`;
}

/** Queues one batched script run reads at most: it keeps Redis busy for a few ms at most. */
export const MAX_BATCH = 100;
