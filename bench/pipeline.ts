/**
 * `npm run bench:pipeline`: files per second with 1, 2 and 4 worker processes on one generated
 * corpus, side by side in one run; then ingest MB/s and the app's peak RSS while one 500 MB file
 * streams in. Runs the built CLI (dist/) against a redis-server of its own on a free port.
 *
 * For each worker count the corpus is uploaded through the API while the queue is paused (upload
 * rate), then the queue is resumed with all workers connected and the clock runs until every job
 * is completed (processing rate: the part more workers speed up). End to end = upload + drain.
 *
 * Options (env): BENCH_FILES (default 400), BENCH_FILE_KB (default 50), BENCH_BIG_MB (default 500).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Queue } from 'bullmq';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { CliProcess } from '../harness/cli-process.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { envPositiveInt } from './bench-utils.js';

const FILES = envPositiveInt('BENCH_FILES', 400);
const FILE_KB = envPositiveInt('BENCH_FILE_KB', 50);
const BIG_MB = envPositiveInt('BENCH_BIG_MB', 500);
const WORKER_COUNTS = [1, 2, 4];

/** Deterministic pseudo-random words, so every run processes the same corpus. */
function corpus(): Buffer[] {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const words = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}${'abcdefgh'[i % 8]}`);
  return Array.from({ length: FILES }, () => {
    const parts: string[] = [];
    let size = 0;
    while (size < FILE_KB * 1024) {
      const sentence =
        Array.from({ length: 12 }, () => words[Math.floor(rand() * words.length)]).join(' ') + '. ';
      parts.push(sentence);
      size += sentence.length;
    }
    return Buffer.from(parts.join(''));
  });
}

function rssMiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((status) => {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  });
}

async function startApp(env: Record<string, string>): Promise<{ proc: CliProcess; url: string }> {
  const proc = new CliProcess(['app'], { ...env, LOG_LEVEL: 'info' }, { entry: 'dist' });
  const line = await proc.waitForLog((l) => typeof l.upload === 'string');
  return { proc, url: String(line.url) };
}

async function runWorkers(
  redis: TestRedisServer,
  uploadDir: string,
  files: Buffer[],
  workers: number,
) {
  const env = {
    REDIS_URL: redis.url,
    QUEUE_NAME: `bench_${workers}_${randomUUID().slice(0, 6)}`,
    UPLOAD_DIR: uploadDir,
    PORT: '0',
    HOST: '127.0.0.1',
    WORKER_CONCURRENCY: '1',
    KEEP_COMPLETED_JOBS: String(FILES),
  };
  const { proc: app, url } = await startApp(env);
  const client = redis.client();
  const queue = new Queue(env.QUEUE_NAME, { connection: client });
  const sampler = new QueueSampler(client, new QueueKeys('bull', env.QUEUE_NAME), { ttlMs: 0 });
  const procs: CliProcess[] = [];
  try {
    await queue.pause();
    const uploadStarted = performance.now();
    let next = 0;
    const uploader = async () => {
      while (next < files.length) {
        const i = next++;
        const form = new FormData();
        form.append('file', new Blob([files[i]!]), `doc-${i}.txt`);
        const res = await fetch(`${url}/api/v1/files`, { method: 'POST', body: form });
        if (res.status !== 202) throw new Error(`upload answered ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, uploader));
    const uploadSeconds = (performance.now() - uploadStarted) / 1000;

    for (let i = 0; i < workers; i++) {
      procs.push(
        new CliProcess(
          ['worker'],
          { ...env, WORKER_ID: `bench-${i}`, LOG_LEVEL: 'info' },
          { entry: 'dist' },
        ),
      );
    }
    await Promise.all(procs.map((proc) => proc.waitForLog((l) => l.msg === 'worker taking jobs')));
    const drainStarted = performance.now();
    await queue.resume();
    for (;;) {
      const snapshot = await sampler.sampleQueue();
      if (snapshot.counts.failed > 0) throw new Error(`${snapshot.counts.failed} jobs failed`);
      if (snapshot.counts.completed >= files.length) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const drainSeconds = (performance.now() - drainStarted) / 1000;
    return { uploadSeconds, drainSeconds };
  } finally {
    await queue.close();
    client.disconnect();
    await Promise.all([app, ...procs].map((proc) => proc.stop()));
  }
}

async function ingest(redis: TestRedisServer, uploadDir: string) {
  const bigPath = join(uploadDir, 'big-input.txt');
  const out = createWriteStream(bigPath);
  const line = Buffer.from(
    'streaming uploads keep the memory of the API flat, whatever the size.\n',
  );
  const block = Buffer.concat(
    Array.from({ length: Math.ceil((1024 * 1024) / line.length) }, () => line),
  ).subarray(0, 1024 * 1024);
  for (let i = 0; i < BIG_MB; i++) {
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');

  const { proc: app, url } = await startApp({
    REDIS_URL: redis.url,
    QUEUE_NAME: `bench_ingest_${randomUUID().slice(0, 6)}`,
    UPLOAD_DIR: join(uploadDir, 'store'),
    PORT: '0',
    HOST: '127.0.0.1',
    MAX_UPLOAD_BYTES: String((BIG_MB + 1) * 1024 * 1024),
  });
  try {
    const pid = app.child.pid!;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const idle = await rssMiB(pid);
    let peak = idle;
    const sampler = setInterval(() => {
      rssMiB(pid).then(
        (rss) => (peak = Math.max(peak, rss)),
        () => undefined,
      );
    }, 20);
    const started = performance.now();
    const curl = spawn('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-F',
      `file=@${bigPath}`,
      `${url}/api/v1/files`,
    ]);
    let code = '';
    curl.stdout.on('data', (data: Buffer) => (code += data.toString()));
    await once(curl, 'exit');
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    if (code !== '202') throw new Error(`the big upload answered ${code}`);
    return { seconds, mbPerSecond: BIG_MB / seconds, idle, peak };
  } finally {
    await app.stop();
  }
}

async function main() {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  const redis = await startRedisServer();
  const uploadDir = await mkdtemp(join(tmpdir(), 'qscale-bench-'));
  try {
    const files = corpus();
    const mb = files.reduce((sum, f) => sum + f.length, 0) / 1024 / 1024;
    console.log(
      `corpus: ${FILES} text files, ${mb.toFixed(1)} MB; worker processes run WORKER_CONCURRENCY=1`,
    );
    const results: { workers: number; uploadSeconds: number; drainSeconds: number }[] = [];
    for (const workers of WORKER_COUNTS) {
      results.push({
        workers,
        ...(await runWorkers(redis, join(uploadDir, `w${workers}`), files, workers)),
      });
    }
    const base = FILES / results[0]!.drainSeconds;
    const baseEnd = FILES / (results[0]!.uploadSeconds + results[0]!.drainSeconds);
    console.log(
      '\n| worker processes | upload files/s | processing files/s | vs 1 worker | end to end files/s | vs 1 worker |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      const rate = FILES / r.drainSeconds;
      const end = FILES / (r.uploadSeconds + r.drainSeconds);
      console.log(
        `| ${r.workers} | ${(FILES / r.uploadSeconds).toFixed(0)} | ${rate.toFixed(0)} | ${(rate / base).toFixed(2)}× | ${end.toFixed(0)} | ${(end / baseEnd).toFixed(2)}× |`,
      );
    }
    const big = await ingest(redis, uploadDir);
    console.log(
      `\ningest of one ${BIG_MB} MB file: ${big.seconds.toFixed(2)} s, ${big.mbPerSecond.toFixed(0)} MB/s`,
    );
    console.log(
      `app RSS: idle ${big.idle.toFixed(0)} MiB, peak ${big.peak.toFixed(0)} MiB, growth ${(big.peak - big.idle).toFixed(0)} MiB (${((big.peak - big.idle) / BIG_MB).toFixed(3)} MiB per MB uploaded)`,
    );
  } finally {
    await redis.stop();
    await rm(uploadDir, { recursive: true, force: true });
  }
}

await main();
