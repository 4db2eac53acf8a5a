import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TerminalStatus } from '../src/cli/terminal-status.js';

/** A terminal stand-in that records what was written, 60 columns wide. */
function fakeTerminal() {
  const chunks: string[] = [];
  const out = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString());
        callback();
      },
    }),
    { columns: 60 },
  );
  return { out, chunks };
}

describe('TerminalStatus', () => {
  it('should redraw one line in place and keep it under log lines', () => {
    const { out, chunks } = fakeTerminal();
    const status = new TerminalStatus(out);
    status.show('backlog 3');
    expect(chunks.join('')).toBe('\r\x1b[2Kbacklog 3');
    chunks.length = 0;
    status.log.write('{"msg":"file processed"}\n');
    // The line is cleared, the log written, the status drawn again below it.
    expect(chunks).toEqual(['\r\x1b[2K{"msg":"file processed"}\n', 'backlog 3']);
  });

  it('should cut a line longer than the terminal and clear it on close', async () => {
    const { out, chunks } = fakeTerminal();
    const status = new TerminalStatus(out);
    status.show('x'.repeat(200));
    expect(chunks[0]!.length).toBeLessThanOrEqual('\r\x1b[2K'.length + 59);
    expect(chunks[0]!.endsWith('…')).toBe(true);
    chunks.length = 0;
    await status.close();
    expect(chunks).toEqual(['\r\x1b[2K']);
    status.log.write('after\n');
    expect(chunks.at(-1)).toBe('\r\x1b[2Kafter\n');
  });

  it('should drop whole segments, least important last ones first, to fit a narrow terminal', () => {
    const { out, chunks } = fakeTerminal();
    const status = new TerminalStatus(out);
    const segments = [
      '▶ backlog 1204',
      'active 12',
      'workers 6 (9 wanted)',
      'done/s 3.4',
      'failed 17',
      'completed 88211',
      'file_processing',
    ];
    status.showFitted(segments);
    // 60 columns: the first four fit (53 characters), "failed 17" would not.
    expect(chunks.at(-1)).toBe(
      '\r\x1b[2K▶ backlog 1204  active 12  workers 6 (9 wanted)  done/s 3.4',
    );
    out.columns = 200;
    status.showFitted(segments);
    expect(chunks.at(-1)).toBe(`\r\x1b[2K${segments.join('  ')}`);
  });
});
