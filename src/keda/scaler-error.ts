import { status } from '@grpc/grpc-js';

/** A request the scaler answers with a specific gRPC status and a message for the operator. */
export class ScalerError extends Error {
  readonly code: status;

  constructor(code: status, message: string) {
    super(message);
    this.name = 'ScalerError';
    this.code = code;
  }
}

/** The one place that turns an error into a gRPC status. */
export function toGrpcError(error: unknown): { code: status; details: string } {
  if (error instanceof ScalerError) return { code: error.code, details: error.message };
  // Anything else comes from reading Redis (a failure or a timeout): never answer 0 then, or the
  // HPA would scale workers away during an outage.
  return {
    code: status.UNAVAILABLE,
    details: `cannot read the queue from Redis: ${(error as Error)?.message ?? String(error)}`,
  };
}
