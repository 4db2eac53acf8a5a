/**
 * `npm run bench:failover`: how many uploads answered 202 a Sentinel failover loses, with
 * REDIS_MIN_REPLICAS_ACK=0 and =1 side by side in one run.
 *
 * A Sentinel topology of its own on free loopback ports (a primary, its replicas, three sentinels;
 * down-after 1 s: the tests' TestSentinelTopology) and two upload APIs in this process (`runApp`),
 * one with each setting, each on its own queue, both taking the same burst of small uploads from a
 * few concurrent clients. In the middle of the burst the primary goes; afterwards every upload
 * answered 202 is looked up on the new primary: its file record and its BullMQ job must exist. One
 * that does not is a lost acknowledged upload. No worker runs: jobs stay in Redis, where they are
 * counted.
 *
 * Four scenarios, each repeated:
 * - "kill": one replica; the primary is killed (SIGKILL) and the sentinels elect the replica.
 * - "frozen": as "kill", but the replica is behind. On loopback a replica is a fraction of a
 *   millisecond behind, so a bare kill -9 rarely catches a write in flight. To make Redis'
 *   asynchronous replication observable, the replica is frozen (SIGSTOP) first, as a slow or
 *   partitioned replica would be, and the replication link is filled (1 MiB values written to the
 *   primary) until the primary itself holds replication data it cannot send (`omem` of the
 *   replica's connection in CLIENT LIST): from then on, whatever the primary acknowledges exists
 *   nowhere else. Without the filler, what a frozen replica misses fits in its socket's receive
 *   buffer, which it still reads after the kill (tried: 100 writes during a SIGSTOP, all 100 on
 *   the promoted replica). The uploads go on for BENCH_WINDOW_MS, the primary is killed, the
 *   replica is thawed (SIGCONT) and elected.
 * - "switch": two replicas; `SENTINEL FAILOVER` (a planned switchover, as before a Redis upgrade).
 *   Sentinel promotes one replica but does not stop the old primary, which keeps taking writes
 *   (and the other replica keeps confirming them) until the clients follow +switch-master;
 *   Sentinel turns it into a replica some 10 s later, which discards them. Counted after that.
 *
 * - "paused": as "switch", with `CLIENT PAUSE <ms> WRITE` on the old primary first, the way to
 *   fence it by hand: writes sent to it wait (and time out) instead of running.
 *
 * In "kill" and "frozen" the killed node is restarted as a replica of the new primary before the
 * next repetition.
 *
 * Options (env): BENCH_REPETITIONS (per scenario, default 3), BENCH_CLIENTS (concurrent clients
 * per API, default 3), BENCH_WINDOW_MS (uploads between the frozen, full link and the kill,
 * default 500), BENCH_SCENARIOS (comma-separated, default kill,frozen,switch,paused).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runApp, type RunningApp } from '../src/cli/run-app.js';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { withRedisClient } from '../harness/redis-server.js';
import { startSentinelTopology, type TestSentinelTopology } from '../harness/redis-sentinel.js';
import { envPositiveInt, sleep } from './bench-env.js';

const REPETITIONS = envPositiveInt('BENCH_REPETITIONS', 3);
const CLIENTS = envPositiveInt('BENCH_CLIENTS', 3);
const WINDOW_MS = envPositiveInt('BENCH_WINDOW_MS', 500);
const ONLY = (process.env.BENCH_SCENARIOS ?? 'kill,frozen,switch,paused').split(',');
/** Stop filling the link beyond this: the primary drops a replica over 64 MiB for 60 s. */
const MAX_FILL_MB = 48;

interface Upload {
  status: number;
  id?: string;
  answeredAt: number;
}

/** Clients uploading small files to one API until `stop()`. */
function uploadLoad(app: RunningApp, clients: number) {
  const uploads: Upload[] = [];
  let stopped = false;
  const client = async () => {
    while (!stopped) {
      const form = new FormData();
      form.append('file', new Blob([`upload ${randomUUID()}`], { type: 'text/plain' }), 'f.txt');
      try {
        const res = await fetch(`http://127.0.0.1:${app.port}/api/v1/files`, {
          method: 'POST',
          body: form,
          signal: AbortSignal.timeout(20_000),
        });
        const body = (await res.json()) as { id?: string };
        uploads.push({
          status: res.status,
          answeredAt: Date.now(),
          ...(body.id && { id: body.id }),
        });
      } catch {
        uploads.push({ status: 0, answeredAt: Date.now() });
      }
      await sleep(20);
    }
  };
  const running = Array.from({ length: clients }, client);
  return {
    uploads,
    async stop() {
      stopped = true;
      await Promise.all(running);
    },
  };
}

/**
 * Writes 1 MiB values to the primary until it holds at least 1 MiB of replication data for the
 * (frozen) replica in its own output buffer. Resolves with the MiB written.
 */
async function fillReplicationLink(primary: number): Promise<number> {
  const value = Buffer.alloc(1 << 20, 'x');
  return withRedisClient(primary, async (c) => {
    for (let mb = 1; mb <= MAX_FILL_MB; mb++) {
      await c.set(`bench:filler:${mb}`, value);
      const list = (await c.call('CLIENT', 'LIST', 'TYPE', 'replica')) as string;
      const omem = Number(/omem=(\d+)/.exec(list)?.[1] ?? 0);
      if (omem >= 1 << 20) return mb;
    }
    return MAX_FILL_MB;
  });
}

/** How the primary goes (see the header). */
type Scenario = 'kill' | 'frozen' | 'switch' | 'paused';

const SCENARIOS: Record<Scenario, string> = {
  kill: 'kill -9 of the primary, 1 replica in sync',
  frozen: `kill -9 of the primary, 1 replica frozen + link full for ${WINDOW_MS} ms`,
  switch: 'SENTINEL FAILOVER, 2 replicas',
  paused: 'CLIENT PAUSE WRITE on the primary, then SENTINEL FAILOVER, 2 replicas',
};

/** How long the "paused" scenario pauses writes on the old primary: past its demotion (~10 s). */
const PAUSE_MS = 20_000;

interface RepResult {
  scenario: Scenario;
  rep: number;
  ack: number;
  uploads: number;
  accepted: number;
  refused: number;
  lost: number;
  /** When the first and the last lost upload were answered, in ms after the kill/failover. */
  lostFromMs?: number;
  lostToMs?: number;
  filledMb: number;
  electionMs: number;
  /** Replication stream the old primary had (at least) and the new one never got, bytes. */
  bytesLost?: number;
}

interface Api {
  ack: number;
  app: RunningApp;
  keys: QueueKeys;
}

const offsetIn = (info: string, field: string) =>
  Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);

/** REDIS_MIN_REPLICAS_ACK settings compared on a topology: 0, 1, and every replica when > 1. */
const acksFor = (replicas: number): number[] => (replicas > 1 ? [0, 1, replicas] : [0, 1]);

/** Starts one upload API per REDIS_MIN_REPLICAS_ACK setting on the topology. */
async function startApis(
  topology: TestSentinelTopology,
  uploadDir: string,
  replicas: number,
): Promise<Api[]> {
  const apps: Api[] = [];
  for (const ack of acksFor(replicas)) {
    const config = loadConfig({
      REDIS_SENTINELS: topology.sentinelsEnv,
      REDIS_MIN_REPLICAS_ACK: String(ack),
      QUEUE_NAME: `bench_loss_ack${ack}_${randomUUID().slice(0, 6)}`,
      UPLOAD_DIR: join(uploadDir, `ack${ack}_${randomUUID().slice(0, 6)}`),
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'silent',
    });
    const app = await runApp(config, createLogger(config, 'bench'));
    apps.push({ ack, app, keys: new QueueKeys(config.queue.prefix, config.queue.name) });
  }
  return apps;
}

/** One repetition: a burst of uploads to both APIs, the primary going in the middle. */
async function repetition(
  topology: TestSentinelTopology,
  apps: Api[],
  scenario: Scenario,
  rep: number,
): Promise<RepResult[]> {
  const primary = (await topology.currentPrimary()).port;
  const loads = apps.map(({ app }) => uploadLoad(app, CLIENTS));
  await sleep(1000);
  let filledMb = 0;
  let bytesLost: number | undefined;
  let newPrimary: number;
  let eventAt: number;
  if (scenario === 'switch' || scenario === 'paused') {
    if (scenario === 'paused') {
      await withRedisClient(primary, (c) => c.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE'));
    }
    eventAt = Date.now();
    newPrimary = (await topology.failover(20_000)).port;
  } else {
    // The one replica of the topology.
    const replica = topology.nodes.find((node) => node.port !== primary)!.port;
    if (scenario === 'frozen') {
      await topology.node(replica).signal('SIGSTOP');
      filledMb = await fillReplicationLink(primary);
      await sleep(WINDOW_MS);
    }
    // Where the primary's replication stream ends just before the kill.
    const primaryOffset = offsetIn(
      await withRedisClient(primary, (c) => c.info('replication')),
      'master_repl_offset',
    );
    await topology.node(primary).signal('SIGKILL');
    eventAt = Date.now();
    if (scenario === 'frozen') await topology.node(replica).signal('SIGCONT');
    // The sentinels elect the only other node, the replica.
    newPrimary = (await topology.waitForNewPrimary(primary)).port;
    // Where the replica's copy ended when it was promoted: the new history starts a byte later.
    const promotedAt =
      offsetIn(
        await withRedisClient(newPrimary, (c) => c.info('replication')),
        'second_repl_offset',
      ) - 1;
    bytesLost = Math.max(0, primaryOffset - promotedAt);
  }
  const electionMs = Date.now() - eventAt;
  await sleep(1000);
  await Promise.all(loads.map((load) => load.stop()));
  if (scenario === 'switch' || scenario === 'paused') {
    // The old primary's writes since the promotion are gone only once Sentinel has made it a
    // replica of the new one (and it has resynchronised): count then.
    await topology.waitForReplicas(newPrimary, 2, 60_000);
  }

  // Every upload answered 202 must exist on the new primary: its record and its job.
  const check = topology.client(newPrimary);
  const results: RepResult[] = [];
  for (const [i, { ack, keys }] of apps.entries()) {
    const uploads = loads[i]!.uploads;
    const accepted = uploads.filter((u) => u.status === 202);
    const lostAt: number[] = [];
    for (const upload of accepted) {
      const [record, job] = await Promise.all([
        check.exists(keys.file(upload.id!)),
        check.exists(keys.bull(upload.id!)),
      ]);
      if (record === 0 || job === 0) lostAt.push(upload.answeredAt - eventAt);
    }
    results.push({
      scenario,
      rep,
      ack,
      uploads: uploads.length,
      accepted: accepted.length,
      refused: uploads.filter((u) => u.status !== 202).length,
      lost: lostAt.length,
      ...(lostAt.length > 0 && { lostFromMs: Math.min(...lostAt), lostToMs: Math.max(...lostAt) }),
      filledMb,
      electionMs,
      ...(bytesLost !== undefined && { bytesLost }),
    });
  }
  await check.del(...Array.from({ length: MAX_FILL_MB }, (_, i) => `bench:filler:${i + 1}`));
  check.disconnect();
  if (scenario === 'kill' || scenario === 'frozen') {
    // The dead node comes back as a replica of the new primary (as a StatefulSet would restart it).
    await topology.restartAsReplica(primary);
  }
  await topology.waitUntilStable();
  return results;
}

/** Runs `scenarios` on a topology of its own with `replicas` replicas and two APIs. */
async function runOn(replicas: number, scenarios: Scenario[]): Promise<RepResult[]> {
  const topology = await startSentinelTopology({ replicas });
  const onSignal = () => {
    topology.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const uploadDir = await mkdtemp(join(tmpdir(), 'qscale-bench-uploads-'));
  let apps: Api[] = [];
  try {
    apps = await startApis(topology, uploadDir, replicas);
    const results: RepResult[] = [];
    for (const scenario of scenarios) {
      for (let rep = 1; rep <= REPETITIONS; rep++) {
        results.push(...(await repetition(topology, apps, scenario, rep)));
      }
    }
    return results;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const { app } of apps) await app.close().catch(() => undefined);
    await topology.stop();
    await rm(uploadDir, { recursive: true, force: true });
  }
}

/** What the times of lost uploads are relative to. */
function event(scenario: Scenario): string {
  return scenario === 'kill' || scenario === 'frozen' ? 'kill' : 'SENTINEL FAILOVER';
}

function printResults(all: RepResult[]): void {
  console.log(
    'scenario  rep  ACK  uploads   202  refused  lost  lost answered at (ms)  link filled  election  repl. lost',
  );
  for (const r of all) {
    console.log(
      [
        r.scenario.padEnd(8),
        String(r.rep).padStart(3),
        String(r.ack).padStart(3),
        String(r.uploads).padStart(7),
        String(r.accepted).padStart(4),
        String(r.refused).padStart(7),
        String(r.lost).padStart(4),
        (r.lost > 0 ? `${r.lostFromMs} .. ${r.lostToMs}` : '-').padStart(21),
        (r.scenario === 'frozen' ? `${r.filledMb} MiB` : '-').padStart(11),
        `${r.electionMs} ms`.padStart(8),
        (r.bytesLost === undefined ? '-' : `${(r.bytesLost / 1024).toFixed(0)} KiB`).padStart(10),
      ].join('  '),
    );
  }
  console.log('');
  for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
    for (const ack of [0, 1, 2]) {
      const rows = all.filter((r) => r.ack === ack && r.scenario === scenario);
      if (rows.length === 0) continue;
      const accepted = rows.reduce((n, r) => n + r.accepted, 0);
      const lost = rows.reduce((n, r) => n + r.lost, 0);
      const from = Math.min(...rows.filter((r) => r.lost > 0).map((r) => r.lostFromMs!));
      const to = Math.max(...rows.filter((r) => r.lost > 0).map((r) => r.lostToMs!));
      console.log(
        `${SCENARIOS[scenario]}, REDIS_MIN_REPLICAS_ACK=${ack}: ${lost} of ${accepted} uploads ` +
          `answered 202 lost (${((100 * lost) / Math.max(1, accepted)).toFixed(1)} %)` +
          (lost > 0 ? `, answered ${from} .. ${to} ms after the ${event(scenario)}` : ''),
      );
    }
  }
}

async function main(): Promise<void> {
  console.log(
    'Sentinel failover loss: a primary, its replicas and 3 sentinels (down-after 1 s, all on ' +
      'loopback), one upload API per REDIS_MIN_REPLICAS_ACK setting in one process (0 and 1; also 2 ' +
      'with 2 replicas), ack timeout ' +
      `500 ms), ${CLIENTS} clients each uploading small files back to back, ${REPETITIONS} ` +
      'repetitions per scenario. No worker runs.',
  );
  console.log(
    'Scenario "kill": 1 replica; 1 s of uploads, SIGKILL of the primary, Sentinel elects the ' +
      'replica.\n' +
      'Scenario "frozen": 1 replica; 1 s of uploads, SIGSTOP of the replica (a slow or cut-off ' +
      'replica), 1 MiB values written to the primary until it holds >= 1 MiB of replication data ' +
      'for the replica in its own output buffer (CLIENT LIST omem; without that filler what a ' +
      "frozen replica misses fits in its socket's receive buffer and still reaches it after the " +
      `kill), ${WINDOW_MS} ms more uploads, SIGKILL of the primary, SIGCONT of the replica, ` +
      'Sentinel elects it.\n' +
      'Scenario "switch": 2 replicas; 1 s of uploads, SENTINEL FAILOVER (a planned switchover); ' +
      'the old primary stays up and is turned into a replica by Sentinel ~10 s later.\n' +
      'Scenario "paused": as "switch", but first CLIENT PAUSE ' +
      `${PAUSE_MS} WRITE on the old primary (writes to it wait instead of running).\n` +
      'Uploads go on until 1 s after the new primary is named. Then every upload answered 202 is ' +
      'looked up on the new primary (file record + BullMQ job); "lost" = answered 202 and missing ' +
      'there; "refused" = not answered 202 (503 with Retry-After); "lost answered at" = when the ' +
      'first and last of them were answered, relative to the ' +
      'kill or the SENTINEL FAILOVER; "repl. lost" = replication stream the old primary had (at ' +
      'least) beyond what the replica held when it was promoted. A killed node is restarted as a ' +
      'replica of the new primary before the next repetition.\n',
  );
  const chosen = (scenarios: Scenario[]) => scenarios.filter((s) => ONLY.includes(s));
  const all: RepResult[] = [];
  // One replica for the kills; two for the switchovers (with one, the old primary has none left).
  for (const [replicas, scenarios] of [
    [1, chosen(['kill', 'frozen'])],
    [2, chosen(['switch', 'paused'])],
  ] as const) {
    if (scenarios.length > 0) all.push(...(await runOn(replicas, scenarios)));
  }
  printResults(all);
}

await main();
