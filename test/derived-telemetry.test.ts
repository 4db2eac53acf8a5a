import { describe, expect, it } from 'vitest';
import {
  BullmqDerivedState,
  compareStreamIds,
  nextStreamId,
} from '../src/kinds/bullmq/bullmq-derived-state.js';
import { RqDerivedState } from '../src/kinds/rq/rq-derived-state.js';
import { parseRqTime } from '../src/kinds/rq/rq-job-fields.js';

const BOUNDS = [0.1, 1, 10];

describe('derived telemetry (workers without qscale code)', () => {
  it('should read stream ids and RQ times', () => {
    expect(nextStreamId('1700000000000-5')).toBe('1700000000000-6');
    expect(nextStreamId('1700000000000-18446744073709551614')).toBe(
      '1700000000000-18446744073709551615',
    );
    expect(parseRqTime('2026-12-02T04:34:40.161382Z')).toBeCloseTo(
      Date.UTC(2026, 11, 2, 4, 34, 40) + 161.382,
      6,
    );
    expect(parseRqTime('2026-12-02T04:34:40Z')).toBe(Date.UTC(2026, 11, 2, 4, 34, 40));
    for (const bad of ['', 'yesterday', '2026-12-02 04:34:40', '2026-12-02T04:34:40.1234567Z']) {
      expect(parseRqTime(bad), bad).toBeUndefined();
    }
  });

  it('should time BullMQ jobs from their record, or from their events when the record is gone', () => {
    const state = new BullmqDerivedState(BOUNDS);
    const stream = (added: number, length: number, first: string, last: string) => ({
      added: String(added),
      length,
      first,
      last,
    });
    state.ingest({ cursor: '', events: [], read: -1, stream: stream(10, 10, '1-0', '999-0') });
    state.ingest({
      cursor: '1000-3',
      read: 6,
      stream: stream(16, 16, '1-0', '6000-0'),
      events: [
        ['1000-0', 'active', 'a'],
        ['1000-1', 'active', 'b'],
        // Kept: 0.5 s from processedOn to finishedOn; first attempt, started 2 s after it was added.
        ['1500-0', 'completed', 'a', '1000', '1500', '-1000', '', '1'],
        // Removed on completion: 4 s between its active and completed events.
        ['5000-0', 'failed', 'b', '', '', '', '', ''],
        // Started before the sidecar's first read and removed: no known duration, not counted.
        ['5000-1', 'completed', 'c', '', '', '', '', ''],
        // A retried job's last attempt: its processing counts, its wait does not.
        ['6000-0', 'completed', 'd', '5900', '6000', '0', '', '2'],
      ],
    });
    const { processing, wait } = state.snapshot();
    expect(processing.completed.count).toBe(2);
    expect(processing.completed.sum).toBeCloseTo(0.6);
    expect(processing.failed).toMatchObject({ count: 1, sum: 4 });
    expect(processing.failed.buckets.get(10)).toBe(1);
    expect(wait).toMatchObject({ count: 1, sum: 2 });
    expect(state.nextStart()).toBe('1000-4');
  });

  it('should count the events trimmed from the stream before they were read, and only those', () => {
    const state = new BullmqDerivedState(BOUNDS);
    // XINFO before each read: entries ever added, length, first and last id.
    const read = (cursor: string, n: number, added: number, length: number, first: string) =>
      state.ingest({
        cursor,
        events: [],
        read: n,
        stream: { added: String(added), length, first, last: '' },
      });
    state.ingest({
      cursor: '',
      events: [],
      read: -1,
      stream: { added: '100', length: 100, first: '1-0', last: '99-0' },
    });
    expect(state.cursor).toBe('99-0');
    read('500-0', 40, 140, 140, '1-0'); // 40 added, all still there
    expect(state.missedEvents).toBe(0);
    // Behind: 2 000 read of 2 400 added; the stream was trimmed, but not past the cursor.
    read('900-0', 2000, 2540, 1000, '300-0');
    expect(state.missedEvents).toBe(0);
    // The cursor's entry (900-0) is gone: of the 400 added after it, the stream holds 300.
    read('1200-0', 300, 2540, 300, '1000-0');
    expect(state.missedEvents).toBe(100);
    read('', 0, 2540, 300, '1000-0'); // nothing new, nothing lost
    expect(state.missedEvents).toBe(100);
    // Before Redis 7 (no entries-added) nothing can be told.
    state.ingest({
      cursor: '3000-0',
      events: [],
      read: 1,
      stream: { added: '', length: 1, first: '3000-0', last: '3000-0' },
    });
    expect(state.missedEvents).toBe(100);
    expect(compareStreamIds('10-2', '9-5')).toBe(1);
    expect(compareStreamIds('10-2', '10-10')).toBe(-1);
    expect(compareStreamIds('10-2', '10-2')).toBe(0);
  });

  it('should estimate BullMQ concurrency from the most active jobs per worker seen while jobs waited', () => {
    const state = new BullmqDerivedState(BOUNDS);
    // Nothing waits: 1 active job on 2 workers says little.
    expect(state.totals(0, 2, 1, 0).concurrency).toBe(2);
    // Saturated: 8 active on 2 workers with a backlog: 4 each.
    expect(state.totals(1000, 2, 8, 5)).toMatchObject({ concurrency: 8, busy: 8, utilization: 1 });
    // Later, idle: the estimate is remembered for 10 minutes.
    expect(state.totals(60_000, 2, 2, 0)).toMatchObject({ concurrency: 8, utilization: 0.25 });
    expect(state.totals(11 * 60_000, 2, 2, 0).concurrency).toBe(2);
    // No worker: nothing is busy, whatever the active list holds.
    expect(state.totals(11 * 60_000, 0, 3, 3)).toMatchObject({ live: 0, busy: 0, concurrency: 0 });
  });

  it('should count each RQ registry entry once, however many share a whole-second score', () => {
    const state = new RqDerivedState(BOUNDS, 60_000);
    state.finished.begin('100', [['old1', '100']]);
    state.failed.begin('', []);
    expect(state.finished.start()).toBe('100');
    const entry = (id: string, score: string) => [
      id,
      score,
      '2026-12-02T00:00:00Z',
      '2026-12-02T00:00:01Z',
      '2026-12-02T00:00:01.500000Z',
    ];
    expect(state.ingest([entry('old1', '100'), entry('a', '100'), entry('b', '101')], [])).toBe(2);
    // Read again from 101: b is not counted twice, c is new.
    expect(state.finished.start()).toBe('101');
    expect(state.ingest([entry('b', '101'), entry('c', '101')], [entry('f', '9e9')])).toBe(2);
    const { processing, wait } = state.snapshot();
    expect(processing.completed).toMatchObject({ count: 3, sum: 1.5 });
    expect(processing.failed.count).toBe(1);
    expect(wait).toMatchObject({ count: 4, sum: 4 });
    // Never-expiring entries (score inf) read back as +inf.
    state.failed.begin('inf', []);
    expect(state.failed.start()).toBe('+inf');
  });

  it('should count RQ arrivals from the queue’s changes without counting a dequeued job twice', () => {
    const state = new RqDerivedState(BOUNDS, 60_000);
    expect(state.countArrivals(5, 0)).toBe(0); // what was there at the first read
    expect(state.countArrivals(8, 0)).toBe(3);
    // A job between RQ's dequeue and its started registry is in neither for a moment.
    expect(state.countArrivals(7, 0)).toBe(3);
    expect(state.countArrivals(8, 0)).toBe(3);
    // Two finished, one more arrived.
    expect(state.countArrivals(7, 2)).toBe(4);
  });

  it('should derive RQ worker utilization from total_working_time over the window', () => {
    const state = new RqDerivedState(BOUNDS, 60_000);
    const record = (totalWorkingTime: number, busySince?: number) => ({
      name: 'w1',
      state: busySince === undefined ? 'idle' : 'busy',
      currentJob: busySince === undefined ? '' : 'j1',
      successful: 3,
      failed: 1,
      totalWorkingTime,
      lastHeartbeat: 0,
      birth: 0,
      ...(busySince !== undefined && { currentJobStartedAt: busySince, currentJobQueue: 'q' }),
    });
    expect(state.workers('q', 0, [record(0, 0)])[0]).toMatchObject({ busy: 1, utilization: 1 });
    // 10 s later: 4 s of finished work, idle now.
    expect(state.workers('q', 10_000, [record(4)])[0]).toMatchObject({
      busy: 0,
      busySeconds: 4,
      utilization: 0.4,
      completed: 3,
      failed: 1,
      concurrency: 1,
    });
    // Busy with another queue's job: not a busy slot of this queue.
    const other = { ...record(4, 10_000), currentJobQueue: 'other' };
    expect(state.workers('q', 11_000, [other])[0]!.busy).toBe(0);
    // Unsafe names are not reported.
    expect(state.workers('q', 12_000, [{ ...record(4), name: 'bad name"' }])).toEqual([]);
  });
});
