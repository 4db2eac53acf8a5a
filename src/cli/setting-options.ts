import { Option, type Command } from 'commander';
import { SETTINGS } from '../config/settings.js';

export type SettingName = keyof typeof SETTINGS;

/** Markdown of a setting's docs as plain help text. */
const plain = (markdown: string) =>
  markdown.replace(/\[([^\]]+)\]\([^)]*\)/g, '$1').replace(/`/g, '');

/**
 * A setting's flag as a commander option bound to its variable (`Option.env`, so the help says
 * `env: NAME`), its help text from the declaration: what it does (or `help`, where a command uses
 * it its own way) and the default.
 */
export function settingOption(name: SettingName, help?: string): Option {
  const setting = SETTINGS[name] as { flag?: string; doc: string; shown: string };
  if (!setting.flag) throw new Error(`setting ${name} has no flag`);
  return new Option(
    setting.flag,
    `${help ?? plain(setting.doc)} (default ${plain(setting.shown)})`,
  ).env(name);
}

/**
 * The settings given as flags on `command`'s command line, as variables (`--metrics-port 0` →
 * `METRICS_PORT=0`, `--autoscale` → `AUTOSCALE=on`). Values commander took from the environment
 * are left out: the environment is read whole by the config, which also knows `AUTOSCALE=off`
 * (commander reads any value of a boolean flag's variable as "given").
 */
export function settingsFromFlags(command: Command): Record<string, string> {
  const env: Record<string, string> = {};
  for (const option of command.options) {
    const key = option.attributeName();
    if (!option.envVar || command.getOptionValueSource(key) !== 'cli') continue;
    const value: unknown = command.getOptionValue(key);
    env[option.envVar] = value === true ? 'on' : String(value);
  }
  return env;
}
