import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FileType } from '../../pipeline/file-types.js';
import type { ExtractReply, ExtractRequest } from './extract-worker.js';
import { ExtractionError } from './extraction-error.js';
import type { ChunkOptions } from '../chunker.js';
import type { ChunkedText, ContentLimits } from './extraction-limits.js';

const MiB = 1024 * 1024;

/**
 * Every limit is a number > 0: the worker passes WORKER_CONCURRENCY and the extraction settings
 * as loadConfig checked them (whole numbers ≥ 1), and the default for `docxMaxEntries`.
 */
export interface ExtractionSandboxOptions {
  /**
   * Most threads at once: one per job the worker runs concurrently (WORKER_CONCURRENCY).
   * @defaultValue 1
   */
  threads?: number;
  /** Wall-clock limit per file, in seconds (EXTRACT_TIMEOUT_SECONDS). @defaultValue 60 */
  timeoutSeconds?: number;
  /** A thread's old-generation heap limit, in MB (EXTRACT_MAX_MEMORY_MB). @defaultValue 256 */
  maxMemoryMb?: number;
  /** Most characters of text per file (EXTRACT_MAX_CHARACTERS). @defaultValue 20 000 000 */
  maxCharacters?: number;
  /** Most bytes a .docx may declare it inflates to, in MB (DOCX_MAX_UNCOMPRESSED_MB). @defaultValue 200 */
  docxMaxUncompressedMb?: number;
  /** Most entries in a .docx archive. @defaultValue 10 000 */
  docxMaxEntries?: number;
  /** Most chunks per file, for {@link ExtractionSandbox.extractChunks} (MAX_CHUNKS_PER_FILE). @defaultValue 25 000 */
  maxChunks?: number;
  /** Most pages per PDF (PDF_MAX_PAGES). @defaultValue 2000 */
  pdfMaxPages?: number;
  /** Most MB a PDF's compressed streams, images aside, may inflate to (PDF_MAX_INFLATED_MB). @defaultValue 256 */
  pdfMaxInflatedMb?: number;
}

const DEFAULTS: Required<ExtractionSandboxOptions> = {
  threads: 1,
  timeoutSeconds: 60,
  maxMemoryMb: 256,
  maxCharacters: 20_000_000,
  docxMaxUncompressedMb: 200,
  docxMaxEntries: 10_000,
  maxChunks: 25_000,
  pdfMaxPages: 2000,
  pdfMaxInflatedMb: 256,
};

/**
 * The thread entry: the compiled .js next to this file (dist), or else the .ts source (under tsx or
 * vitest), loaded through tsx's ESM hooks registered inside the thread — Node 20 ignores
 * `--import` in a worker's execArgv.
 */
function threadEntry(): { source: URL | string; eval: boolean } {
  const compiled = new URL('./extract-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return { source: compiled, eval: false };
  // require.resolve finds the CommonJS build of tsx/esm/api; its ESM twin sits next to it.
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const tsx = pathToFileURL(api).href;
  const source = new URL('./extract-worker.ts', import.meta.url).href;
  return {
    source: `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(source)}); });`,
    eval: true,
  };
}

/** How long a fresh thread may take to load its code. */
const THREAD_START_MS = 60_000;

/** One thread; it runs one file at a time and is thrown away when a limit is hit. */
class ExtractionThread {
  readonly worker: Worker;
  dead = false;
  private pending?: {
    resolve(result: string | ChunkedText): void;
    reject(error: Error): void;
    fileName: string;
  };
  private readonly maxMemoryMb: number;
  /** Resolves when the thread has loaded its code; a file's time limit starts after it. */
  private readonly ready: Promise<void>;
  private readonly exited: Promise<void>;
  /** Why the thread was stopped while no file was in flight (the sandbox closing). */
  private stopReason?: Error;

  constructor(entry: ReturnType<typeof threadEntry>, limits: ContentLimits, maxMemoryMb: number) {
    this.maxMemoryMb = maxMemoryMb;
    this.worker = new Worker(entry.source, {
      eval: entry.eval,
      workerData: limits,
      resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb },
      stdout: false,
      stderr: false,
    });
    // A thread never keeps the process alive: close() terminates busy ones.
    this.worker.unref();
    let ready: () => void;
    this.ready = new Promise((resolve) => (ready = resolve));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('message', (reply: ExtractReply) => {
      if ('ready' in reply) {
        ready();
        return;
      }
      const pending = this.pending;
      this.pending = undefined;
      if (!pending) return;
      if (reply.ok) pending.resolve(reply.result);
      else if (reply.name === 'ExtractionError') pending.reject(new ExtractionError(reply.message));
      else pending.reject(new Error(reply.message));
    });
    this.worker.on('error', (error: Error & { code?: string }) => {
      this.dead = true;
      const fileName = this.pending?.fileName;
      this.fail(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY' && fileName !== undefined
          ? new ExtractionError(
              `${JSON.stringify(fileName)} needed more than ${this.maxMemoryMb} MB of memory to extract (EXTRACT_MAX_MEMORY_MB)`,
              { cause: error },
            )
          : new Error(`the extraction thread failed: ${error.message}`, { cause: error }),
      );
    });
    this.worker.on('exit', (code) => {
      this.dead = true;
      this.fail(new Error(`the extraction thread exited (code ${code})`));
    });
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  /**
   * Extracts one file. The time limit starts once the thread is ready: loading the code into a
   * fresh thread (slow on a busy machine) is not the file's time. Starting has a deadline of its
   * own, and failing it fails this attempt only (a retry may find the machine less busy).
   */
  async run(request: ExtractRequest, timeoutMs: number): Promise<string | ChunkedText> {
    let timer: NodeJS.Timeout | undefined;
    const started = await Promise.race([
      this.ready.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), THREAD_START_MS);
      }),
      this.exited.then(() => false as const),
    ]);
    clearTimeout(timer);
    if (!started) {
      void this.terminate();
      throw (
        this.stopReason ??
        new Error(`the extraction thread did not start within ${THREAD_START_MS / 1000} s`)
      );
    }
    return new Promise<string | ChunkedText>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new ExtractionError(
            `${JSON.stringify(request.fileName)} took longer than ${timeoutMs / 1000} s to extract (EXTRACT_TIMEOUT_SECONDS)`,
          ),
        );
        void this.terminate();
      }, timeoutMs);
      const settle = () => clearTimeout(timer);
      this.pending = {
        fileName: request.fileName,
        resolve: (result) => (settle(), resolve(result)),
        reject: (error) => (settle(), reject(error)),
      };
      this.worker.postMessage(request, [request.data.buffer]);
    });
  }

  /** Rejects the file in flight, if any (or the one waiting for the thread to start). */
  fail(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending) pending.reject(error);
    else this.stopReason ??= error;
  }

  async terminate(): Promise<void> {
    this.dead = true;
    await this.worker.terminate();
  }
}

/**
 * Runs text extraction in worker threads with a heap limit and a wall-clock limit per file, so a
 * hostile file can neither stall the worker's event loop (lock renewal, heartbeats) nor take the
 * process down. A thread that hits a limit is terminated and a fresh one takes the next file. Files
 * that hit a limit fail with an {@link ExtractionError} naming the limit and its setting.
 *
 * Threads are kept between files (a small pool of at most `threads`): starting one and loading
 * mammoth, html-to-text and pdfjs costs tens to hundreds of ms, more than many files take.
 */
export class ExtractionSandbox {
  private readonly options: Required<ExtractionSandboxOptions>;
  private readonly limits: ContentLimits;
  private readonly entry = threadEntry();
  private readonly idle: ExtractionThread[] = [];
  private readonly active = new Set<ExtractionThread>();
  private readonly waiting: Array<(thread: ExtractionThread | Error) => void> = [];
  private closed = false;

  constructor(options: ExtractionSandboxOptions = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.limits = {
      maxCharacters: this.options.maxCharacters,
      docxMaxUncompressedBytes: this.options.docxMaxUncompressedMb * MiB,
      docxMaxEntries: this.options.docxMaxEntries,
      maxChunks: this.options.maxChunks,
      pdfMaxPages: this.options.pdfMaxPages,
      pdfMaxInflatedBytes: this.options.pdfMaxInflatedMb * MiB,
    };
  }

  /**
   * Extracts a file's text in a thread. `data`'s memory is moved to the thread (the Buffer is
   * unusable afterwards); it is copied once only when it shares its memory with other Buffers.
   */
  async extract(data: Buffer, type: FileType, fileName: string): Promise<string> {
    return (await this.run({ data: ownMemory(data), type, fileName })) as string;
  }

  /**
   * {@link extract}, and the text cut into chunks in the thread too (a long text takes a while to
   * cut); more than `maxChunks` chunks fails.
   */
  async extractChunks(
    data: Buffer,
    type: FileType,
    fileName: string,
    chunking: ChunkOptions,
  ): Promise<ChunkedText> {
    return (await this.run({ data: ownMemory(data), type, fileName, chunking })) as ChunkedText;
  }

  private async run(request: ExtractRequest): Promise<string | ChunkedText> {
    const thread = await this.acquire();
    try {
      return await thread.run(request, this.options.timeoutSeconds * 1000);
    } finally {
      this.release(thread);
    }
  }

  /** Terminates every thread, busy or not; a file in flight is rejected. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const error = new Error('extraction stopped: the worker is closing');
    for (const resolve of this.waiting.splice(0)) resolve(error);
    const threads = [...this.idle.splice(0), ...this.active];
    this.active.clear();
    await Promise.allSettled(
      threads.map((thread) => {
        thread.fail(error);
        return thread.terminate();
      }),
    );
  }

  private async acquire(): Promise<ExtractionThread> {
    if (this.closed) throw new Error('extraction stopped: the worker is closing');
    let thread = this.idle.pop();
    while (thread?.dead) thread = this.idle.pop();
    if (!thread && this.active.size < this.options.threads) thread = this.spawn();
    if (!thread) {
      const next = await new Promise<ExtractionThread | Error>((resolve) =>
        this.waiting.push(resolve),
      );
      if (next instanceof Error) throw next;
      thread = next;
    }
    this.active.add(thread);
    return thread;
  }

  private release(thread: ExtractionThread): void {
    if (!this.active.delete(thread)) return; // closed meanwhile
    let next: ExtractionThread | undefined = thread;
    if (thread.dead) {
      // Replaced lazily by a fresh thread for the next file.
      next = this.waiting.length > 0 ? this.spawn() : undefined;
    }
    if (!next) return;
    const waiter = this.waiting.shift();
    if (waiter) waiter(next);
    else this.idle.push(next);
  }

  private spawn(): ExtractionThread {
    return new ExtractionThread(this.entry, this.limits, this.options.maxMemoryMb);
  }
}

/** A Uint8Array that owns its whole ArrayBuffer, so the buffer can be transferred. */
function ownMemory(data: Buffer): Uint8Array<ArrayBuffer> {
  const { buffer } = data;
  const whole = data.byteOffset === 0 && data.byteLength === buffer.byteLength;
  if (whole && buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  return new Uint8Array(data);
}
