import {
  credentials,
  type ChannelCredentials,
  type ChannelOptions,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadExternalScalerProto } from '../src/keda/external-scaler-proto.js';
import type { ExternalScalerClient } from '../src/keda/generated/externalscaler/ExternalScaler.js';
import type { GetMetricSpecResponse__Output } from '../src/keda/generated/externalscaler/GetMetricSpecResponse.js';
import type { GetMetricsResponse__Output } from '../src/keda/generated/externalscaler/GetMetricsResponse.js';
import type { IsActiveResponse__Output } from '../src/keda/generated/externalscaler/IsActiveResponse.js';

/**
 * A real gRPC client built from our externalscaler.proto, as KEDA would call us, with the unary
 * calls as promises.
 */
export class ScalerClient {
  readonly client: ExternalScalerClient;

  constructor(
    address: string,
    creds: ChannelCredentials = credentials.createInsecure(),
    options: ChannelOptions = {},
  ) {
    const proto = loadExternalScalerProto();
    this.client = new proto.externalscaler.ExternalScaler(address, creds, options);
  }

  private unary<T>(
    call: (cb: (error: ServiceError | null, value?: T) => void) => unknown,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      call((error, value) => (error ? reject(error) : resolve(value as T)));
    });
  }

  isActive(metadata: Record<string, string>): Promise<IsActiveResponse__Output> {
    return this.unary((cb) =>
      this.client.IsActive({ name: 'so', namespace: 'ns', scalerMetadata: metadata }, cb),
    );
  }

  getMetricSpec(metadata: Record<string, string>): Promise<GetMetricSpecResponse__Output> {
    return this.unary((cb) =>
      this.client.GetMetricSpec({ name: 'so', namespace: 'ns', scalerMetadata: metadata }, cb),
    );
  }

  getMetrics(
    metadata: Record<string, string>,
    metricName = '',
  ): Promise<GetMetricsResponse__Output> {
    return this.unary((cb) =>
      this.client.GetMetrics(
        { scaledObjectRef: { name: 'so', namespace: 'ns', scalerMetadata: metadata }, metricName },
        cb,
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}
