// Redis memory over a long run, with and without retention, side by side in one run:
//   npm run lab:retention                    # 6 min of uploads
//   npm run lab:retention -- --minutes 2     # shorter
// Two `qscale start` stacks (built dist/, each with its own private redis-server on a free port)
// take the same steady stream of text uploads; one deletes finished files after
// FILE_RETENTION_SECONDS. The lab prints Redis `used_memory` of both every 20 s and the ratio of
// the last third's peak to the middle third's: ~1 for a bounded run, ~1.5+ for one that grows.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';

const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '6' },
    rate: { type: 'string', default: '4' },
    retention: { type: 'string', default: '30' },
  },
});
const minutes = Number(values.minutes);
const filesPerSecond = Number(values.rate);
const retentionSeconds = Number(values.retention);
const SAMPLE_MS = 20_000;

interface Stack {
  name: string;
  child: ChildProcess;
  dir: string;
  api: string;
  redis: Redis;
  uploaded: number;
  failedUploads: number;
}

async function startStack(name: string, env: Record<string, string>): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), `qscale-lab-retention-${name}-`));
  const child = spawn(process.execPath, [MAIN, 'start'], {
    cwd: dir,
    env: {
      ...process.env,
      REDIS_DATA_DIR: join(dir, 'redis'),
      UPLOAD_DIR: join(dir, 'uploads'),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-50_000);
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const redisUrl = /"url":"(redis:\/\/[^"]+)"/.exec(log)?.[1];
    const api = /(http:\/\/localhost:\d+)\/api\/v1\/files/.exec(log)?.[1];
    if (redisUrl && api) {
      return { name, child, dir, api, redis: new Redis(redisUrl), uploaded: 0, failedUploads: 0 };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${name} did not start:\n${log.slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function usedMemory(stack: Stack): Promise<number> {
  const info = await stack.redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? NaN);
}

/** ~20 KB of text, different for every file (so chunks and vectors are not shared). */
function textFile(n: number): Blob {
  const line = `File ${n} of the lab: a report line with a few numbers ${n * 7} and ${n * 13}.\n`;
  return new Blob([line.repeat(Math.ceil(20_000 / line.length))], { type: 'text/plain' });
}

async function upload(stack: Stack, n: number): Promise<void> {
  const form = new FormData();
  form.append('file', textFile(n), `lab-${n}.txt`);
  const res = await fetch(`${stack.api}/api/v1/files`, { method: 'POST', body: form });
  if (res.status === 202 || res.status === 200) stack.uploaded++;
  else stack.failedUploads++;
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

const stacks: Stack[] = [];
const stopAll = async () => {
  for (const stack of stacks) {
    stack.redis.disconnect();
    if (stack.child.exitCode === null) {
      stack.child.kill('SIGTERM');
      await new Promise((resolve) => stack.child.once('exit', resolve));
    }
    await rm(stack.dir, { recursive: true, force: true });
  }
};
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

try {
  stacks.push(
    await startStack('retention', {
      FILE_RETENTION_SECONDS: String(retentionSeconds),
      RETENTION_INTERVAL_SECONDS: '5',
      KEEP_COMPLETED_SECONDS: String(retentionSeconds),
    }),
  );
  stacks.push(await startStack('no-retention', {}));
  console.log(
    `${minutes} min of ${filesPerSecond} uploads/s (~20 KB of text each) into two stacks; retention ${retentionSeconds} s on one\n`,
  );
  const start = Date.now();
  const end = start + minutes * 60_000;
  const samples: { at: number; used: number[] }[] = [];
  let n = 0;
  const uploader = (async () => {
    while (Date.now() < end) {
      const tick = Date.now();
      await Promise.all(stacks.map((stack) => upload(stack, n)));
      n++;
      const wait = 1000 / filesPerSecond - (Date.now() - tick);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  console.log('  time  retention MiB  no-retention MiB');
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    const used = await Promise.all(stacks.map(usedMemory));
    const at = Math.round((Date.now() - start) / 1000);
    samples.push({ at, used });
    console.log(
      `${String(at).padStart(5)} s  ${mib(used[0]!).padStart(13)}  ${mib(used[1]!).padStart(16)}`,
    );
  }
  await uploader;
  const third = Math.floor(samples.length / 3);
  const peak = (from: number, to: number, i: number) =>
    Math.max(...samples.slice(from, to).map((s) => s.used[i]!));
  console.log('');
  for (const [i, stack] of stacks.entries()) {
    const middle = peak(third, 2 * third, i);
    const last = peak(2 * third, samples.length, i);
    console.log(
      `${stack.name}: ${stack.uploaded} files uploaded (${stack.failedUploads} refused); used_memory peak ${mib(middle)} MiB in the middle third, ${mib(last)} MiB in the last: ×${(last / middle).toFixed(2)}`,
    );
  }
} finally {
  await stopAll();
}
