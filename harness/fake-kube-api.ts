import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/** One request as the fake API server received it. */
export interface RecordedRequest {
  method: string;
  /** Without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What a route answers: an HTTP status and a JSON body; `hang` never answers. */
export type Answer = { status: number; body?: unknown } | 'hang';

type Route = {
  method: string;
  path: string;
  answer: (request: RecordedRequest) => Answer;
};

/** A `meta/v1` Status, the body the API server sends with every error. */
export function statusBody(code: number, reason: string, message: string) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
}

/**
 * A FAKE Kubernetes API server (a real kube-apiserver cannot run here): plain HTTP on a free
 * loopback port, answering the routes a test sets with the JSON shapes the real server sends, and
 * 404 with a `Status` body for everything else. It records every request (method, path, query,
 * headers, body) so tests can assert on what the client sent.
 */
export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  private readonly routes: Route[] = [];
  private readonly hanging = new Set<() => void>();
  private server?: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://fake');
        const request: RecordedRequest = {
          method: req.method ?? '',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body,
        };
        this.requests.push(request);
        const route = [...this.routes]
          .reverse()
          .find((r) => r.method === request.method && r.path === request.path);
        const answer: Answer = route
          ? route.answer(request)
          : { status: 404, body: statusBody(404, 'NotFound', `${request.path} not found`) };
        if (answer === 'hang') {
          const end = () => res.destroy();
          this.hanging.add(end);
          res.on('close', () => this.hanging.delete(end));
          return;
        }
        res.statusCode = answer.status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(answer.body ?? {}));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Answers `method path` (exact path, no query) from now on; a later route wins. */
  on(method: string, path: string, answer: Answer | ((request: RecordedRequest) => Answer)): this {
    this.routes.push({
      method,
      path,
      answer: typeof answer === 'function' ? answer : () => answer,
    });
    return this;
  }

  /** Answers GET `path` with `body` (status 200). */
  get(path: string, body: unknown): this {
    return this.on('GET', path, { status: 200, body });
  }

  /** A client configuration for this server, as a kubeconfig with a bearer token would give. */
  kubeConfig(namespace = 'qscale'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'fake', user: 'u', namespace }],
      currentContext: 'c',
    });
    return kc;
  }

  async close(): Promise<void> {
    for (const end of this.hanging) end();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
