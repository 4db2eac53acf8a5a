import type { QueueAddress } from '../kinds/queue-kind.js';
import { readFile } from 'node:fs/promises';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import getPort from 'get-port';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';
import { loadExternalScalerProto } from './external-scaler-proto.js';
import { ExternalScalerService } from './external-scaler-service.js';
import { MAX_MESSAGE_BYTES, metadataSizeLimit } from './input-limits.js';
import type { QueueWatchers } from './queue-watchers.js';

/** The gRPC port when KEDA_PORT is not set, if it is free. */
export const PREFERRED_KEDA_PORT = 6000;

export interface ScalerServerOptions {
  config: Config;
  signals: ScalingSignals;
  watchers: QueueWatchers;
  logger: Logger;
  /** The queues served now (discovery changes them); @defaultValue QUEUES' named queues */
  served?: () => readonly QueueAddress[];
}

export interface RunningScalerServer {
  server: Server;
  port: number;
  tls: 'off' | 'tls' | 'mtls';
  close(): Promise<void>;
}

/** Plaintext, TLS (KEDA_TLS_CERT + KEDA_TLS_KEY), or mTLS when KEDA_TLS_CA is set too. */
async function credentials(tls: Config['scaler']['tls']): Promise<ServerCredentials> {
  if (!tls) return ServerCredentials.createInsecure();
  const [cert, key, ca] = await Promise.all([
    readFile(tls.cert),
    readFile(tls.key),
    tls.ca ? readFile(tls.ca) : Promise.resolve(null),
  ]);
  return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
}

/**
 * Serves KEDA's ExternalScaler protocol and the standard gRPC health service (for Kubernetes gRPC
 * probes) on KEDA_PORT.
 */
export async function startScalerServer(
  options: ScalerServerOptions,
): Promise<RunningScalerServer> {
  const { config, logger } = options;
  // A message or metadata larger than any KEDA sends is refused before it is read
  // (RESOURCE_EXHAUSTED).
  const server = new Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    interceptors: [metadataSizeLimit],
  });
  const service = new ExternalScalerService({
    proto: loadExternalScalerProto(),
    signals: options.signals,
    watchers: options.watchers,
    served: {
      queues: options.served ?? config.metrics.queues,
      prefix: config.queue.prefix,
      patterns: config.metrics.queuePatterns,
    },
    sizing: config.scaler.sizing,
    logger,
  });
  service.addToServer(server);
  new HealthImplementation({
    '': 'SERVING',
    'externalscaler.ExternalScaler': 'SERVING',
  }).addToServer(server);
  const wanted = config.scaler.port ?? (await getPort({ port: PREFERRED_KEDA_PORT }));
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  const port = await new Promise<number>((resolve, reject) => {
    credentials(config.scaler.tls).then(
      (creds) =>
        server.bindAsync(`${host}:${wanted}`, creds, (error, bound) =>
          error ? reject(error) : resolve(bound),
        ),
      reject,
    );
  });
  const tls = !config.scaler.tls ? 'off' : config.scaler.tls.ca ? 'mtls' : 'tls';
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    tls,
    close: () =>
      (closing ??= (async () => {
        // Open StreamIsActive streams end with OK, not CANCELLED (see endStreams).
        service.endStreams();
        await options.watchers.close();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 2000);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      })()),
  };
}
