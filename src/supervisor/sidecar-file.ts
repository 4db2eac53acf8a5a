import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRunning } from './private-redis.js';

const FILE = 'sidecar.json';

interface Recorded {
  url: string;
  pid: number;
}

/**
 * Where a running `qscale start` serves its sidecar (status page, console API), written into
 * REDIS_DATA_DIR whatever its Redis, so `qscale jobs` in the same directory finds it. One file:
 * the latest start to record wins; each removes the file on close only while it is still its own.
 */
export class SidecarFile {
  private closed?: Promise<void>;

  private constructor(
    private readonly path: string,
    private readonly url: string,
  ) {}

  /** Records `url` for this process in `dataDir`. */
  static async record(dataDir: string, url: string): Promise<SidecarFile> {
    await mkdir(dataDir, { recursive: true });
    const path = join(dataDir, FILE);
    const recorded: Recorded = { url, pid: process.pid };
    await writeFile(path, `${JSON.stringify(recorded)}\n`);
    return new SidecarFile(path, url);
  }

  /** Removes the record if it is still this process's; idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      const current = await readRecord(this.path);
      if (current?.pid === process.pid && current.url === this.url) {
        await rm(this.path, { force: true });
      }
    })();
    return this.closed;
  }
}

async function readRecord(path: string): Promise<Recorded | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Partial<Recorded>;
    return typeof value.url === 'string' && Number.isInteger(value.pid) && value.pid! > 0
      ? (value as Recorded)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The sidecar of a `qscale start` running with this data directory, if any: a record left by one
 * that was killed (`kill -9`) is not taken for a running one.
 */
export async function readSidecarUrl(dataDir: string): Promise<string | undefined> {
  const recorded = await readRecord(join(dataDir, FILE));
  if (!recorded || !(await isRunning(recorded.pid, /cli\/main\.[jt]s/))) return undefined;
  return recorded.url;
}
