/** The Redis read of a sample took longer than the timeout. */
export class SampleTimeoutError extends Error {
  constructor(ms: number) {
    super(`reading the queues from Redis took longer than ${ms} ms`);
    this.name = 'SampleTimeoutError';
  }
}
