import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import { ScalerError, shown } from './scaler-error.js';

/**
 * What the scaler accepts, sized to what KEDA sends: a ScaledObjectRef (name, namespace and the
 * trigger's metadata, a handful of short keys) is a few hundred bytes. A larger message is refused
 * by gRPC with RESOURCE_EXHAUSTED as soon as its length prefix arrives, before it is buffered or
 * decoded.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * gRPC metadata (the request's headers; KEDA sends a few hundred bytes): at most this many bytes,
 * counted as HTTP/2 does (name + value + 32 per entry) — gRPC's usual limit. Node's HTTP/2 layer
 * refuses more than 128 headers or about 64 KiB before this is asked.
 */
export const MAX_METADATA_BYTES = 8 * 1024;

/**
 * A server interceptor that answers RESOURCE_EXHAUSTED to a call whose metadata is larger than
 * {@link MAX_METADATA_BYTES}, before the call reaches a handler.
 */
export const metadataSizeLimit: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, pass) {
          let bytes = 0;
          for (const [name, values] of Object.entries(metadata.toHttp2Headers())) {
            for (const value of [values].flat()) bytes += name.length + String(value).length + 32;
          }
          if (bytes > MAX_METADATA_BYTES) {
            call.sendStatus({
              code: status.RESOURCE_EXHAUSTED,
              details: `request metadata of ${bytes} bytes is larger than ${MAX_METADATA_BYTES} (KEDA sends a few hundred)`,
            });
            return;
          }
          pass(metadata);
        },
      });
    },
  });

/** Trigger metadata: at most this many keys, each key and value at most this long. */
export const TRIGGER_METADATA_LIMITS = { keys: 64, keyChars: 128, valueChars: 1024 } as const;

/**
 * Refuses trigger metadata larger than KEDA's with INVALID_ARGUMENT, before anything reads it:
 * too many keys, or a key or value too long (shown cut).
 */
export function checkTriggerMetadataSize(metadata: Record<string, string> | undefined): void {
  if (!metadata) return;
  const { keys, keyChars, valueChars } = TRIGGER_METADATA_LIMITS;
  const entries = Object.entries(metadata);
  if (entries.length > keys) {
    throw new ScalerError(
      status.INVALID_ARGUMENT,
      `trigger metadata has ${entries.length} keys; at most ${keys} are accepted (a trigger has a handful)`,
    );
  }
  for (const [key, value] of entries) {
    if (key.length > keyChars) {
      throw new ScalerError(
        status.INVALID_ARGUMENT,
        `trigger metadata key ${shown(key)} is longer than ${keyChars} characters`,
      );
    }
    if (value.length > valueChars) {
      throw new ScalerError(
        status.INVALID_ARGUMENT,
        `trigger metadata ${key}=${shown(value)} is not valid: longer than ${valueChars} characters`,
      );
    }
  }
}
