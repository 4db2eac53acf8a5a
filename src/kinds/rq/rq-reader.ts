import type { QueueKeys } from '../../queue/queue-keys.js';
import type { QueueSnapshot } from '../../queue/queue-snapshot.js';
import type { QueueReader, ReaderOptions } from '../driver.js';
import { RqDerivedState } from './rq-derived-state.js';
import { rqSampleKeys, rqSnapshot, type RqSampleReply } from './rq-sample.js';

/** Finished (and failed) RQ registry entries one sample reads at most per queue. */
const MAX_RQ_FINISHED = 1000;

/** Reads one Python RQ queue from RQ's own keys (see `rq-sample.ts`). */
export class RqReader implements QueueReader {
  private readonly state: RqDerivedState;

  constructor(
    private readonly keys: QueueKeys,
    private readonly options: ReaderOptions,
  ) {
    this.state = new RqDerivedState(options.buckets, options.utilizationWindowMs);
  }

  args(): { keys: string[]; args: (string | number)[] } {
    const state = this.state;
    return {
      keys: rqSampleKeys(this.keys),
      args: [
        state.finished.start(),
        state.failed.start(),
        MAX_RQ_FINISHED + state.finished.extra,
        MAX_RQ_FINISHED + state.failed.extra,
        this.options.maxWorkers,
      ],
    };
  }

  decode(reply: unknown, now: number): QueueSnapshot {
    return rqSnapshot(this.keys, now, reply as RqSampleReply, this.state, this.options.maxWorkers);
  }
}
