import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeEmbeddingServerOptions {
  /** Every request is answered this many ms after it arrived (a slow model). @defaultValue 0 */
  delayMs?: number;
}

/**
 * A FAKE of a remote OpenAI-compatible embeddings API (which cannot run here). It answers
 * `POST /v1/embeddings` with deterministic 8-dimensional vectors, and can hold requests until the
 * test releases them, so a test can keep a worker busy mid-job for as long as it needs, or answer
 * each one `delayMs` late, so every job takes about that long.
 */
export class FakeEmbeddingServer {
  private server?: Server;
  private held = false;
  private waiters: (() => void)[] = [];
  private readonly delays = new Set<NodeJS.Timeout>();
  /** Delay of every answer, in ms; may be changed while running. */
  delayMs: number;
  requests = 0;
  url = '';

  constructor(options: FakeEmbeddingServerOptions = {}) {
    this.delayMs = options.delayMs ?? 0;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        this.requests++;
        const answer = () => {
          const input = (JSON.parse(body) as { input: string[] }).input;
          res.setHeader('content-type', 'application/json');
          res.end(
            JSON.stringify({
              data: input.map((text, index) => ({
                index,
                embedding: Array.from({ length: 8 }, (_, i) => ((text.length + i) % 7) + 1),
              })),
            }),
          );
        };
        const respond = () => {
          if (this.held) this.waiters.push(answer);
          else answer();
        };
        if (this.delayMs <= 0) {
          respond();
          return;
        }
        const timer = setTimeout(() => {
          this.delays.delete(timer);
          respond();
        }, this.delayMs);
        this.delays.add(timer);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  /** Requests from now on wait until {@link release}. */
  hold(): void {
    this.held = true;
  }

  /** Answers every held request and stops holding. */
  release(): void {
    this.held = false;
    for (const answer of this.waiters.splice(0)) answer();
  }

  /** Resolves once at least `count` requests arrived (held or answered). */
  async waitForRequests(count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests < count) {
      if (Date.now() > deadline)
        throw new Error(`only ${this.requests} embedding requests arrived`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    for (const timer of this.delays) clearTimeout(timer);
    this.delays.clear();
    this.release();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}
