import { describe, expect, it } from 'vitest';
import { decodeCeleryEvents, MAX_EVENT_MESSAGE_CHARS } from '../src/kinds/celery/celery-events.js';

/** A kombu message as Celery's event dispatcher publishes it on the Redis transport. */
function kombuMessage(events: unknown): string {
  return JSON.stringify({
    body: Buffer.from(JSON.stringify(events)).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { hostname: 'celery@host' },
    properties: { body_encoding: 'base64', delivery_tag: 'x' },
  });
}

describe('decodeCeleryEvents', () => {
  const event = { type: 'task-started', hostname: 'celery@host', timestamp: 1, uuid: 'u1' };

  it('should read one event and a task.multi list of them', () => {
    expect(decodeCeleryEvents(kombuMessage(event))).toEqual([event]);
    expect(decodeCeleryEvents(kombuMessage([event, { ...event, uuid: 'u2' }]))).toHaveLength(2);
  });

  it('should read nothing of a message that is not a Celery event, however it is broken', () => {
    expect(decodeCeleryEvents('not json')).toEqual([]);
    expect(decodeCeleryEvents(JSON.stringify({ body: 'not base64 json' }))).toEqual([]);
    expect(decodeCeleryEvents(kombuMessage({ type: 'task-started' }))).toEqual([]);
    expect(decodeCeleryEvents(kombuMessage([1, null, 'x']))).toEqual([]);
  });

  it('should not parse a message larger than its bound (a hostile publisher on the channel)', () => {
    const padded = kombuMessage({ ...event, pad: 'x'.repeat(MAX_EVENT_MESSAGE_CHARS) });
    expect(padded.length).toBeGreaterThan(MAX_EVENT_MESSAGE_CHARS);
    expect(decodeCeleryEvents(padded)).toEqual([]);
  });
});
