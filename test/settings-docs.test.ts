import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { settingOption, settingsFromFlags } from '../src/cli/setting-options.js';
import { documentedRows, settingsRows } from '../src/config/settings-table.js';
import { SETTINGS } from '../src/config/settings.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && /\.(ts|js)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('Settings', () => {
  it('should be documented in docs/settings.md exactly as declared (npm run docs:settings)', async () => {
    const readme = await readFile(join(ROOT, 'docs', 'settings.md'), 'utf8');
    expect(documentedRows(readme)).toEqual(settingsRows());
  });

  it('should catch a docs table that differs from the declarations', async () => {
    const readme = await readFile(join(ROOT, 'docs', 'settings.md'), 'utf8');
    // The check above, broken on purpose three ways: a changed default, a lost row, a new one.
    const changed = readme.replace('| `bull` ', '| `bullmq` ');
    expect(changed).not.toBe(readme);
    expect(documentedRows(changed)).not.toEqual(settingsRows());
    const lost = readme.replace(/^\| `HISTORY` .*\n/m, '');
    expect(documentedRows(lost)).not.toEqual(settingsRows());
    const added = readme.replace(/^(\| `HISTORY` .*\n)/m, '$1| `NEW_SETTING` | – | new |\n');
    expect(documentedRows(added)).not.toEqual(settingsRows());
  });

  it('should show each default the schema applies', () => {
    for (const [name, setting] of Object.entries(SETTINGS)) {
      const parsed = setting.schema.safeParse(undefined);
      if (!parsed.success || parsed.data === undefined) continue;
      expect(setting.shown, name).toContain(String(parsed.data));
    }
  });

  it('should declare each setting once in src/', async () => {
    const files = await sourceFiles(join(ROOT, 'src'));
    const texts = await Promise.all(files.map((file) => readFile(file, 'utf8')));
    for (const name of Object.keys(SETTINGS)) {
      // A declaration is the variable as an object key with a schema or a setting(…).
      const declaration = new RegExp(`\\b${name}\\s*:\\s*(setting\\(|z\\.|int\\(|oneOf\\()`, 'g');
      const count = texts.reduce((sum, text) => sum + (text.match(declaration)?.length ?? 0), 0);
      expect(count, name).toBe(1);
    }
  });
});

describe('Setting flags', () => {
  afterEach(() => vi.unstubAllEnvs());

  /** A command with a few setting flags, parsed as `qscale … <args>` would be. */
  function parsed(args: string[]): Command {
    const command = new Command('probe')
      .exitOverride()
      .addOption(settingOption('METRICS_PORT'))
      .addOption(settingOption('QUEUES'))
      .addOption(settingOption('AUTOSCALE'));
    return command.parse(args, { from: 'user' });
  }

  it('should give the flags on the command line as their variables, over the environment', () => {
    vi.stubEnv('METRICS_PORT', '1234');
    vi.stubEnv('QUEUES', 'from_env');
    expect(settingsFromFlags(parsed(['--metrics-port', '0', '--autoscale']))).toEqual({
      METRICS_PORT: '0',
      AUTOSCALE: 'on',
    });
  });

  it('should leave what commander read from the environment to the config, AUTOSCALE=off too', () => {
    vi.stubEnv('AUTOSCALE', 'off');
    vi.stubEnv('QUEUES', 'a,b');
    const command = parsed([]);
    expect(command.opts()).toMatchObject({ autoscale: true, queues: 'a,b' }); // commander's view
    expect(settingsFromFlags(command)).toEqual({});
  });

  it('should bind every flag to its own variable and name it in the help', () => {
    for (const [name, setting] of Object.entries(SETTINGS)) {
      if (!('flag' in setting) || !setting.flag) continue;
      const option = settingOption(name as keyof typeof SETTINGS);
      expect(option.envVar, name).toBe(name);
    }
    expect(parsed([]).helpInformation()).toContain('(env: METRICS_PORT)');
  });
});
