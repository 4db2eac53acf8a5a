import { Option } from 'commander';
import { SETTINGS } from '../config/settings.js';

export type SettingName = keyof typeof SETTINGS;

/** commander's attribute of a flag: `--metrics-port <port>` → `metricsPort`. */
function attributeOf(flag: string): string {
  const long = flag.split(' ')[0]!.replace(/^--/, '');
  return long.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** Markdown of a setting's docs as plain help text. */
const plain = (markdown: string) =>
  markdown.replace(/\[([^\]]+)\]\([^)]*\)/g, '$1').replace(/`/g, '');

/** The flags that override a setting, by commander attribute (`metricsPort`) → variable. */
export const FLAG_TO_ENV: Readonly<Record<string, SettingName>> = Object.fromEntries(
  Object.entries(SETTINGS).flatMap(([name, s]) =>
    'flag' in s && s.flag ? [[attributeOf(s.flag), name as SettingName]] : [],
  ),
);

/**
 * A setting's flag as a commander option, its help text from the declaration: what it does (or
 * `help`, where a command uses it its own way), the variable and the default.
 */
export function settingOption(name: SettingName, help?: string): Option {
  const setting = SETTINGS[name] as { flag?: string; doc: string; shown: string };
  if (!setting.flag) throw new Error(`setting ${name} has no flag`);
  return new Option(
    setting.flag,
    `${help ?? plain(setting.doc)} (env ${name}; default ${plain(setting.shown)})`,
  );
}
