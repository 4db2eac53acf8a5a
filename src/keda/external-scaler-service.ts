import { status, type sendUnaryData, type Server } from '@grpc/grpc-js';
import type { Logger } from '../config/logger.js';
import { matchesQueuePattern } from '../kinds/queue-kind.js';
import type { QueueSnapshot } from '../queue/queue-snapshot.js';
import { isActive, metricName, scalingValue } from '../scaling/scaling-decision.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';
import type { ProtoGrpcType } from './generated/externalscaler.js';
import type { ExternalScalerHandlers } from './generated/externalscaler/ExternalScaler.js';
import type { ScaledObjectRef__Output } from './generated/externalscaler/ScaledObjectRef.js';
import type { QueueWatchers } from './queue-watchers.js';
import { checkTriggerMetadataSize } from './input-limits.js';
import { ScalerError, toGrpcError } from './scaler-error.js';
import { parseTriggerMetadata, type ServedQueues, type TriggerSpec } from './trigger-metadata.js';
import type { SizingObjective } from '../scaling/worker-sizing.js';

export interface ExternalScalerServiceOptions {
  proto: ProtoGrpcType;
  signals: ScalingSignals;
  watchers: QueueWatchers;
  served: ServedQueues;
  /** The wait objective of triggers that state none (TARGET_WAIT_SECONDS, …). */
  sizing: SizingObjective;
  logger: Logger;
}

/** The same rejected trigger is logged at most once in this long, in ms. */
const REJECTION_LOG_INTERVAL_MS = 60_000;

/** At most this many rejections are logged per interval; the rest are counted in one line. */
const REJECTION_LOG_LINES = 20;

/** The int64 field of a value: rounded up, so a fractional need still counts. */
const toInt64 = (value: number) => Math.ceil(Number(value.toFixed(9)));

/**
 * KEDA's ExternalScaler service. Every call validates the trigger metadata; GetMetricSpec touches
 * no Redis; the others read through the shared {@link ScalingSignals} (one Redis round trip per
 * SAMPLE_TTL_MS however many ScaledObjects ask), and answer UNAVAILABLE — never 0 — when Redis
 * cannot be read.
 */
export class ExternalScalerService {
  private readonly opts: ExternalScalerServiceOptions;
  /** Open StreamIsActive calls, each with the function that stops its watch. */
  private readonly streams = new Map<{ end(): void }, () => void>();

  constructor(options: ExternalScalerServiceOptions) {
    this.opts = options;
  }

  private readonly rejectionsLogged = new Map<string, number>();
  /** Rejections logged since `rejectionWindow` began, and those left out. */
  private rejectionWindow = 0;
  private rejectionLines = 0;
  private rejectionsNotLogged = 0;

  /**
   * Answers a unary call exactly once, with the value or the error's gRPC status. A trigger the
   * scaler rejects (bad metadata, a queue it does not serve) is also logged as a warning, once a
   * minute per message and at most 20 lines a minute (messages are cut to 1 KiB): KEDA shows it
   * only in its own events and logs, and a flood of bad calls must not flood the log.
   */
  private respond<T>(callback: sendUnaryData<T>, work: () => Promise<T> | T): void {
    Promise.resolve()
      .then(work)
      .then(
        (value) => callback(null, value),
        (error: unknown) => {
          const grpcError = toGrpcError(error);
          if (error instanceof ScalerError) this.logRejection(grpcError.details);
          callback(grpcError);
        },
      );
  }

  private logRejection(message: string): void {
    const now = Date.now();
    const last = this.rejectionsLogged.get(message);
    if (last !== undefined && now - last < REJECTION_LOG_INTERVAL_MS) return;
    if (now - this.rejectionWindow >= REJECTION_LOG_INTERVAL_MS) {
      if (this.rejectionsNotLogged > 0) {
        this.opts.logger.warn(
          { notLogged: this.rejectionsNotLogged },
          `KEDA triggers rejected: ${this.rejectionsNotLogged} more rejections in the last minute were not logged`,
        );
      }
      this.rejectionWindow = now;
      this.rejectionLines = 0;
      this.rejectionsNotLogged = 0;
    }
    if (this.rejectionLines >= REJECTION_LOG_LINES) {
      this.rejectionsNotLogged++;
      return;
    }
    this.rejectionLines++;
    if (this.rejectionsLogged.size > 1000) this.rejectionsLogged.clear();
    this.rejectionsLogged.set(message, now);
    this.opts.logger.warn({ reason: message }, `KEDA trigger rejected: ${message}`);
  }

  /** The trigger of a call: its size checked first (see input-limits.ts), then its meaning. */
  private spec(ref: ScaledObjectRef__Output | null | undefined): TriggerSpec {
    checkTriggerMetadataSize(ref?.scalerMetadata);
    return parseTriggerMetadata(ref?.scalerMetadata, this.opts.served, this.opts.sizing);
  }

  /**
   * The trigger's value and activity: of its queue, or for a pattern the sum over the served
   * queues it matches now (latency: the oldest of them; none matching: 0, inactive).
   */
  private async answer(spec: TriggerSpec): Promise<{ active: boolean; value: number }> {
    const sample = await this.opts.signals.read({ forScaling: true });
    const snapshots = spec.pattern
      ? sample.queues.filter((q) => matchesQueuePattern(q, spec.pattern!))
      : sample.queues.filter((q) => q.queue === spec.queue);
    if (!spec.pattern && snapshots.length === 0) {
      throw new ScalerError(status.NOT_FOUND, `queue ${spec.queue} is not sampled`);
    }
    const values = snapshots.map((snapshot) =>
      scalingValue(snapshot, this.opts.signals.rates(snapshot), spec),
    );
    const waiting = snapshots.reduce((sum, q) => sum + q.backlog + q.counts.active, 0);
    return {
      active: waiting > spec.activationValue,
      value:
        spec.mode === 'latency'
          ? Math.max(0, ...values)
          : values.reduce((sum, value) => sum + value, 0),
    };
  }

  readonly handlers: ExternalScalerHandlers = {
    IsActive: (call, callback) =>
      this.respond(callback, async () => {
        const spec = this.spec(call.request);
        const { active } = await this.answer(spec);
        return { result: active };
      }),

    GetMetricSpec: (call, callback) =>
      this.respond(callback, () => {
        const spec = this.spec(call.request);
        return {
          metricSpecs: [
            {
              metricName: metricName(spec.queue, spec.mode),
              // Rounded up, as the metric values are: 2.4 jobs per replica is targetSize 3.
              targetSize: Math.max(1, toInt64(spec.targetValue)),
              targetSizeFloat: spec.targetValue,
            },
          ],
        };
      }),

    GetMetrics: (call, callback) =>
      this.respond(callback, async () => {
        const spec = this.spec(call.request.scaledObjectRef);
        const { value } = await this.answer(spec);
        // Exactly one value: the HPA sums whatever is returned.
        return {
          metricValues: [
            {
              metricName: metricName(spec.queue, spec.mode),
              metricValue: toInt64(value),
              metricValueFloat: value,
            },
          ],
        };
      }),

    StreamIsActive: (call) => {
      let spec: TriggerSpec;
      try {
        spec = this.spec(call.request);
      } catch (error) {
        const grpcError = toGrpcError(error);
        if (error instanceof ScalerError) this.logRejection(grpcError.details);
        call.emit('error', grpcError);
        return;
      }
      let last: boolean | undefined;
      // A pattern follows the served queues it matched when KEDA opened the stream.
      const queues = spec.pattern
        ? (this.opts.signals.latest?.queues ?? [])
            .filter((q) => matchesQueuePattern(q, spec.pattern!))
            .map((q) => q.queue)
        : [spec.queue];
      const latest = new Map<string, QueueSnapshot>();
      const unwatchers = queues.map((queue) =>
        this.opts.watchers.watch(queue, (snapshot) => {
          latest.set(queue, snapshot);
          const waiting = [...latest.values()].reduce(
            (sum, q) => sum + q.backlog + q.counts.active,
            0,
          );
          const active = spec.pattern
            ? waiting > spec.activationValue
            : isActive(snapshot, spec.activationValue);
          if (active === last) return;
          last = active;
          call.write({ result: active });
        }),
      );
      if (queues.length === 0) {
        last = false;
        call.write({ result: false });
      }
      const unwatch = () => unwatchers.forEach((stop) => stop());
      const stop = () => {
        unwatch();
        this.streams.delete(call);
      };
      this.streams.set(call, stop);
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
    },

    StreamMetricSpec: (call) => {
      call.emit('error', {
        code: status.UNIMPLEMENTED,
        details: 'StreamMetricSpec is not implemented; KEDA falls back to polling GetMetricSpec',
      });
    },
  };

  /**
   * Ends every open StreamIsActive with status OK, for a shutdown: KEDA resets its reconnect
   * backoff only after a stream that ended cleanly, so a restarted sidecar is dialled again at
   * once instead of after a backoff that grows toward a minute (a CANCELLED end counts as a
   * failure).
   */
  endStreams(): void {
    for (const [call, stop] of [...this.streams]) {
      stop();
      call.end();
    }
  }

  addToServer(server: Server): void {
    server.addService(this.opts.proto.externalscaler.ExternalScaler.service, this.handlers);
  }
}
