import type { ChainableCommander } from 'ioredis';
import type { QueueKeys } from '../../queue/queue-keys.js';
import type { QueueSnapshot } from '../../queue/queue-snapshot.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import type { QueueReader, ReaderOptions } from '../driver.js';
import { RqDerivedState } from './rq-derived-state.js';
import { rqSampleKeys, rqSnapshot, SAMPLE_RQ_QUEUE, type RqSampleReply } from './rq-sample.js';

type RqPipeline = ChainableCommander & {
  qscaleSampleRqQueue(...args: (string | number)[]): unknown;
};

/** Finished (and failed) RQ registry entries one sample reads at most per queue. */
const MAX_RQ_FINISHED = 1000;

/** Reads one Python RQ queue from RQ's own keys (see `rq-sample.ts`). */
export class RqReader implements QueueReader {
  private readonly state: RqDerivedState;

  constructor(
    redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly options: ReaderOptions,
  ) {
    if (
      typeof (redis as RedisClient & Record<string, unknown>).qscaleSampleRqQueue !== 'function'
    ) {
      redis.defineCommand('qscaleSampleRqQueue', { numberOfKeys: 9, lua: SAMPLE_RQ_QUEUE });
    }
    this.state = new RqDerivedState(options.buckets, options.utilizationWindowMs);
  }

  queue(pipeline: ChainableCommander): void {
    const state = this.state;
    (pipeline as RqPipeline).qscaleSampleRqQueue(
      ...rqSampleKeys(this.keys),
      state.finished.start(),
      state.failed.start(),
      MAX_RQ_FINISHED + state.finished.extra,
      MAX_RQ_FINISHED + state.failed.extra,
      this.options.maxWorkers,
    );
  }

  decode(reply: unknown, now: number): QueueSnapshot {
    return rqSnapshot(this.keys, now, reply as RqSampleReply, this.state, this.options.maxWorkers);
  }
}
