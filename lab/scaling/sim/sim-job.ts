/** One job of a simulated run; times are trace seconds from the start of the trace. */
export interface SimJob {
  id: number;
  /** When its file arrived (the trace). */
  arrival: number;
  /** When the job was added to the queue; NaN until it is (the upload still running). */
  enqueuedAt: number;
  /** How long it runs once started. */
  runSeconds: number;
  /** When its (last) attempt started; NaN while it waits. */
  startedAt: number;
  /** When it finished; NaN until it does. */
  finishedAt: number;
  /** Attempts started: more than 1 when a killed pod's job went back to the queue. */
  attempts: number;
  /** Wait of its first attempt, for the workers' wait histogram; NaN before. */
  firstWait: number;
}

export function simJob(id: number, arrival: number, runSeconds: number): SimJob {
  return {
    id,
    arrival,
    enqueuedAt: NaN,
    runSeconds,
    startedAt: NaN,
    finishedAt: NaN,
    attempts: 0,
    firstWait: NaN,
  };
}

/** The wait list: FIFO, with jobs taken back from a killed pod put at its head. */
export class JobQueue {
  private items: (SimJob | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The job waiting longest, if any. */
  peek(): SimJob | undefined {
    return this.items[this.head];
  }

  push(job: SimJob): void {
    this.items.push(job);
  }

  unshift(job: SimJob): void {
    if (this.head > 0) this.items[--this.head] = job;
    else this.items.unshift(job);
  }

  shift(): SimJob | undefined {
    if (this.head >= this.items.length) return undefined;
    const job = this.items[this.head];
    this.items[this.head++] = undefined;
    // Drop the taken prefix now and then, so memory follows the queue, not the run.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return job;
  }
}
