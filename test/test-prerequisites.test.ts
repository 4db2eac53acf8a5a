import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/kustomize.js';

const SCRIPT = join(REPO_ROOT, 'scripts/test-prerequisites.sh');

/** Runs the check with only `path` on PATH. */
function check(path: string, args: string[] = []) {
  const result = spawnSync('/bin/bash', [SCRIPT, ...args], {
    env: { PATH: path },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('scripts/test-prerequisites.sh (npm pretest)', () => {
  let bare: string;

  beforeAll(async () => {
    // A machine with a shell and nothing the tests need.
    bare = await mkdtemp(join(tmpdir(), 'qscale-bare-path-'));
    for (const tool of ['head', 'sed']) {
      const found = spawnSync('/bin/bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
      await symlink(found.stdout.trim(), join(bare, tool));
    }
  });

  afterAll(async () => {
    await rm(bare, { recursive: true, force: true });
  });

  it('should pass here, where the suite runs', () => {
    expect(check(process.env.PATH ?? '')).toMatchObject({ code: 0, stderr: '' });
  });

  it('should name what is missing and the one command that installs it, before any test runs', () => {
    const { code, stderr } = check(bare);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^npm test needs tools that are not installed here:/);
    expect(stderr).toContain(
      'install them with: sudo apt-get install -y --no-install-recommends redis-server prometheus openssl',
    );
    expect(stderr).toContain('python3-rq');
    expect(stderr).toContain('kubectl');
    expect(stderr).toContain('or run bash .ci/run');
    // .ci/run installs exactly that list.
    expect(check(bare, ['--packages']).stdout.trim()).toMatch(
      // python3-celery is looked for in /usr/bin/python3 whatever PATH says: found here.
      /^redis-server prometheus openssl (chromium )?python3-rq( python3-celery)?$/,
    );
  });
});
