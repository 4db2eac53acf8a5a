import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/config/logger.js';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (chunk: string) => lines.push(chunk) } };
}

describe('createLogger', () => {
  it('should write one JSON object per line with the role when not at a terminal', () => {
    const { lines, destination } = capture();
    createLogger({ logLevel: 'info' }, 'app', destination).info({ files: 2 }, 'upload accepted');
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 30,
      role: 'app',
      pid: process.pid,
      files: 2,
      msg: 'upload accepted',
    });
  });

  it('should write readable lines for a terminal: time, level, [role], message, fields', () => {
    const { lines, destination } = capture();
    createLogger({ logLevel: 'info' }, 'app', destination, true).info(
      { files: 2 },
      'upload accepted',
    );
    // Colours stripped: the terminal shows them.
    const plain = lines[0]!.replaceAll(String.fromCharCode(27), '').replace(/\[[0-9;]*m/g, '');
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: \[app\] upload accepted \{"files":2\}\n$/);
    expect(plain).not.toContain('"pid"');
  });
});
