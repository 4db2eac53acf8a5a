/**
 * `npm run bench:keda-flood`: the KEDA port under a hostile flood (issue 23). A real `qscale
 * exporter` process (its own PID, so its RSS is its own) on a redis-server of the benchmark's own
 * takes FLOOD_CALLS concurrent `IsActive` calls, each carrying a trigger metadata map of FLOOD_KEYS
 * keys (~FLOOD_KEYS × 24 bytes: 200 000 keys are ~4.6 MB), kept in flight for FLOOD_SECONDS: as
 * soon as one is answered, the next is sent. The flood's messages are encoded once, by hand, and
 * sent as raw bytes, so the flooding client costs little CPU of the 2 cores it shares with the
 * sidecar. Meanwhile, one well-behaved KEDA-like caller sends `GetMetrics` every 200 ms, and
 * `/healthz` is asked every 100 ms and `/metrics` every second.
 *
 * Printed: `/healthz`, `/metrics` and the good caller's latencies (median, p99, worst) before and
 * during the flood, the good caller's errors, how the flood's calls were answered, the sidecar's
 * RSS before, at its peak during and 10 s after the flood, and the bytes it logged meanwhile.
 *
 * Options (env): FLOOD_CALLS (default 30), FLOOD_KEYS (default 200000), FLOOD_SECONDS (default 20),
 * FLOOD_MIX (`all`, the default: maps, a long `mode` and long unserved queue names in turn; `maps`:
 * the large maps only, as in the issue).
 */
import { readFileSync } from 'node:fs';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { credentials, Client, type ServiceError } from '@grpc/grpc-js';
import { CliProcess } from '../harness/cli-process.js';
import { encodeScaledObjectRef, rawIsActive } from '../harness/raw-scaler-call.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { testEnv } from '../harness/stack.js';
import { median, percentile, sleep, withRedisServer, envPositiveInt } from './bench-utils.js';

const CALLS = envPositiveInt('FLOOD_CALLS', 30);
const KEYS = envPositiveInt('FLOOD_KEYS', 200_000);
const SECONDS = envPositiveInt('FLOOD_SECONDS', 20);
const MIX = process.env.FLOOD_MIX === 'maps' ? 'maps' : 'all';

/** CPU time (user + system) a process has used, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** VmRSS of a process, in MB. */
function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 1024);
}

const summary = (values: number[]) =>
  values.length === 0
    ? 'none'
    : `median ${median(values).toFixed(1)} ms, p99 ${percentile(values, 99).toFixed(1)} ms, worst ${Math.max(...values).toFixed(1)} ms (${values.length})`;

interface FloodTarget {
  grpcPort: number;
  queue: string;
}

/**
 * The flood, in a process of its own: FLOOD_CALLS callers, each sending the next message as soon as
 * the last is answered, until FLOOD_SECONDS have passed. Posts how the calls were answered.
 */
async function flood({ grpcPort, queue }: FloodTarget): Promise<void> {
  // About the same size each: FLOOD_KEYS keys (one of them the queue, the rest noise); a `mode`
  // that is one long bad value; 20 different long queue names the sidecar does not serve
  // (rejections whose messages would carry the value).
  const noise: [string, string][] = Array.from({ length: KEYS }, (_, i) => [
    `k${i.toString().padStart(8, '0')}`,
    `v${i.toString().padStart(9, '0')}`,
  ]);
  const long = 'x'.repeat(KEYS * 24);
  const maps = [encodeScaledObjectRef([['queue', queue], ...noise])];
  const messages =
    MIX === 'maps'
      ? maps
      : [
          ...maps,
          encodeScaledObjectRef([
            ['queue', queue],
            ['mode', long],
          ]),
          ...Array.from({ length: 20 }, (_, i) =>
            encodeScaledObjectRef([['queue', `${i}${long}`]]),
          ),
        ];
  const client = new Client(`127.0.0.1:${grpcPort}`, credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
  });
  // Ready: the benchmark starts its clock, then says go.
  process.send!('ready');
  await new Promise((resolve) => process.once('message', resolve));
  const answers = new Map<string, number>();
  const ends = Date.now() + SECONDS * 1000;
  let sent = 0;
  const caller = async (index: number) => {
    while (Date.now() < ends) {
      const message = messages[(index + sent++) % messages.length]!;
      const { code, details } = await rawIsActive(client, message);
      // Grouped by status and the start of the message, numbers left out.
      const outcome =
        code === 0 ? 'OK' : `${code} ${details.slice(0, 70).replace(/[\d.]+s?/g, '…')}`;
      answers.set(outcome, (answers.get(outcome) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CALLS }, (_, i) => caller(i)));
  client.close();
  process.send!([...answers]);
}

async function main(): Promise<void> {
  await withRedisServer(async (redis) => {
    const env = await testEnv(redis, { HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    const sidecar = new CliProcess(['exporter'], env);
    try {
      const scaler = await sidecar.waitForLog(
        (l) => l.msg?.includes('KEDA external scaler') === true,
      );
      const exporter = await sidecar.waitForLog(
        (l) => l.msg?.startsWith('exporter listening') === true,
      );
      const grpcPort = Number(scaler.kedaPort);
      const httpUrl = String(exporter.url).replace('localhost', '127.0.0.1');
      const pid = sidecar.child.pid!;
      const queue = String(env.QUEUE_NAME);

      const good = new ScalerClient(`127.0.0.1:${grpcPort}`);
      const sample = { healthz: [] as number[], metrics: [] as number[], grpc: [] as number[] };
      const goodErrors: string[] = [];
      let phase: 'before' | 'during' | 'after' = 'before';
      const byPhase = { before: structuredClone(sample), during: structuredClone(sample) };
      let stopped = false;
      const timed = async (list: keyof typeof sample, run: () => Promise<unknown>) => {
        const started = performance.now();
        try {
          await run();
        } catch (error) {
          if (list === 'grpc')
            goodErrors.push(`${phase}: ${(error as ServiceError).details ?? error}`);
          else throw error;
        }
        if (phase !== 'after') byPhase[phase][list].push(performance.now() - started);
      };
      const loop = async (everyMs: number, body: () => Promise<unknown>) => {
        while (!stopped) {
          const next = Date.now() + everyMs;
          await body().catch(() => undefined);
          await sleep(Math.max(0, next - Date.now()));
        }
      };
      const pollers = [
        loop(100, () =>
          timed('healthz', async () => {
            const res = await fetch(`${httpUrl}/healthz`, { signal: AbortSignal.timeout(60_000) });
            await res.text();
          }),
        ),
        loop(1000, () =>
          timed('metrics', async () => {
            const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(60_000) });
            await res.text();
          }),
        ),
        loop(200, () => timed('grpc', () => good.getMetrics({ queue }))),
      ];
      // The flooder is a process of its own: the probes' timings here are the sidecar's, not
      // the flooder's. It builds its messages first.
      const flooder = fork(fileURLToPath(import.meta.url), [], {
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, FLOOD_TARGET: JSON.stringify({ grpcPort, queue }) },
      });
      const next = () =>
        new Promise<unknown>((resolve, reject) => {
          flooder.once('message', resolve);
          flooder.once('error', reject);
        });
      await next();
      // "Before": the 3 s after the flooder has built its messages.
      for (const list of Object.values(byPhase.before)) list.length = 0;
      await sleep(3000);
      const rssBefore = rssMb(pid);
      const logBefore = sidecar.stdout.length;
      const cpuBefore = cpuSeconds(pid);
      const floodStarted = Date.now();

      phase = 'during';
      let rssPeak = rssBefore;
      const peakTimer = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(pid))), 250);
      const finished = next();
      flooder.send('go');
      const answers = (await finished) as [string, number][];
      flooder.kill();
      clearInterval(peakTimer);
      phase = 'after';
      const logged = sidecar.stdout.length - logBefore;
      const cpuShare = (cpuSeconds(pid) - cpuBefore) / ((Date.now() - floodStarted) / 1000);
      await sleep(10_000);
      const rssAfter = rssMb(pid);
      stopped = true;
      await Promise.all(pollers);
      good.close();

      console.log(
        `flood: ${CALLS} concurrent IsActive calls of ~${((KEYS * 25) / 1e6).toFixed(1)} MB each (${MIX === 'maps' ? `${KEYS} keys` : `${KEYS} keys, or one long value`}), for ${SECONDS} s`,
      );
      console.log('flood calls answered:');
      for (const [outcome, count] of answers) console.log(`  ${count} × ${outcome}`);
      for (const [name, label] of [
        ['healthz', '/healthz'],
        ['metrics', '/metrics'],
        ['grpc', 'good GetMetrics'],
      ] as const) {
        console.log(`${label}: before ${summary(byPhase.before[name])}`);
        console.log(`${' '.repeat(label.length)}  during ${summary(byPhase.during[name])}`);
      }
      console.log(
        `good caller errors: ${goodErrors.length}${goodErrors.length ? ` (first: ${goodErrors[0]})` : ''}`,
      );
      console.log(
        `sidecar RSS: ${rssBefore} MB before, ${rssPeak} MB peak, ${rssAfter} MB 10 s after`,
      );
      console.log(`sidecar log during the flood: ${(logged / 1e6).toFixed(2)} MB`);
      console.log(`sidecar CPU during the flood: ${(cpuShare * 100).toFixed(0)} % of one core`);
    } finally {
      await sidecar.stop();
    }
  });
}

const target = process.env.FLOOD_TARGET;
if (target === undefined) await main();
else await flood(JSON.parse(target) as FloodTarget);
