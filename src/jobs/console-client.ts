import type { QueueKind } from '../kinds/queue-kind.js';
import type { JobDetail, JobPage, JobState } from '../queue/queue-jobs.js';

/** One queue as the console API lists it. */
export interface ConsoleQueue {
  name: string;
  kind: QueueKind;
  kindLabel: string;
  cleanable: string[];
  states: JobState[];
  actions: string[];
  paused: boolean;
}

/** An answer of the console API other than 2xx, with its message. */
export class ConsoleClientError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ConsoleClientError';
    this.status = status;
    this.code = code;
  }
}

export interface ConsoleClientOptions {
  /** ACTION_TOKEN, sent as a bearer token with actions (and reads, which it also allows). */
  actionToken?: string;
  /** METRICS_AUTH as configured (`bearer:<token>` or `basic:<user>:<password>`), for reads. */
  metricsAuth?: string;
  /** @defaultValue 10000 */
  timeoutMs?: number;
}

function authorization(metricsAuth: string | undefined): string | undefined {
  if (metricsAuth === undefined) return undefined;
  const [kind, ...rest] = metricsAuth.split(':');
  if (kind === 'bearer') return `Bearer ${rest.join(':')}`;
  if (kind === 'basic') {
    return `Basic ${Buffer.from(`${rest[0]}:${rest.slice(1).join(':')}`).toString('base64')}`;
  }
  return undefined;
}

/**
 * A client of the sidecar's console API (`/api/v1/queues/…`), as `qscale jobs` uses it: the same
 * requests the status page makes, each with a deadline.
 */
export class ConsoleClient {
  readonly baseUrl: string;
  private readonly options: ConsoleClientOptions;

  constructor(baseUrl: string, options: ConsoleClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.options = options;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const act = method !== 'GET';
    const auth = act
      ? this.options.actionToken !== undefined
        ? `Bearer ${this.options.actionToken}`
        : authorization(this.options.metricsAuth)
      : (authorization(this.options.metricsAuth) ??
        (this.options.actionToken !== undefined
          ? `Bearer ${this.options.actionToken}`
          : undefined));
    const url = `${this.baseUrl}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          Accept: 'application/json',
          ...(auth !== undefined && { Authorization: auth }),
          ...(method === 'POST' && { 'Content-Type': 'application/json' }),
        },
        ...(method === 'POST' && { body: JSON.stringify(body ?? {}) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new ConsoleClientError(
        0,
        'unreachable',
        (error as Error).name === 'TimeoutError'
          ? `${url} did not answer within ${this.options.timeoutMs ?? 10_000} ms`
          : `cannot reach the sidecar at ${this.baseUrl}${cause ? ` (${cause})` : ''}: is it running? Give its address with --url or QSCALE_URL`,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ConsoleClientError(
        res.status,
        error?.code ?? 'http_error',
        error?.message ?? `${method} ${url} answered ${res.status} ${text.slice(0, 200)}`,
      );
    }
    if (parsed === undefined) {
      throw new ConsoleClientError(
        res.status,
        'not_json',
        `${url} did not answer JSON: is this a qscale sidecar?`,
      );
    }
    return parsed as T;
  }

  private queuePath(queue: string): string {
    return `/api/v1/queues/${encodeURIComponent(queue)}`;
  }

  queues(): Promise<{
    queues: ConsoleQueue[];
    permission: { allowed: boolean; needsToken: boolean; reason: string | null };
  }> {
    return this.request('GET', '/api/v1/queues');
  }

  list(
    queue: string,
    options: { state?: string; limit?: number; cursor?: string; search?: string },
  ): Promise<JobPage & { queue: string }> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options)) {
      if (value !== undefined) query.set(key, String(value));
    }
    return this.request('GET', `${this.queuePath(queue)}/jobs?${query.toString()}`);
  }

  async get(queue: string, id: string): Promise<JobDetail> {
    const body = await this.request<{ job: JobDetail }>(
      'GET',
      `${this.queuePath(queue)}/jobs/${encodeURIComponent(id)}`,
    );
    return body.job;
  }

  jobAction(
    queue: string,
    id: string,
    action: 'retry' | 'remove' | 'promote',
  ): Promise<{ id: string; state: string }> {
    const path = `${this.queuePath(queue)}/jobs/${encodeURIComponent(id)}`;
    return action === 'remove'
      ? this.request('DELETE', path)
      : this.request('POST', `${path}/${action}`);
  }

  queueAction(
    queue: string,
    action: 'retry-failed' | 'ack-failures' | 'pause' | 'resume',
  ): Promise<{ count?: number; paused?: boolean; acknowledgedAt?: number }> {
    return this.request('POST', `${this.queuePath(queue)}/${action}`);
  }

  clean(
    queue: string,
    body: { state: string; olderThanSeconds: number; limit?: number },
  ): Promise<{ count: number }> {
    return this.request('POST', `${this.queuePath(queue)}/clean`, body);
  }
}
