import type { Client } from '@grpc/grpc-js';

/** A protobuf varint. */
function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** A length-delimited field (wire type 2). */
function field(number: number, content: Buffer): Buffer {
  return Buffer.concat([varint((number << 3) | 2), varint(content.length), content]);
}

/**
 * A ScaledObjectRef {name, namespace, scalerMetadata} encoded by hand as KEDA's proto says, so a
 * test or benchmark can send a huge one many times without paying for its encoding each time.
 */
export function encodeScaledObjectRef(metadata: Iterable<[string, string]>): Buffer {
  const parts = [field(1, Buffer.from('so')), field(2, Buffer.from('ns'))];
  for (const [key, value] of metadata) {
    parts.push(field(3, Buffer.concat([field(1, Buffer.from(key)), field(2, Buffer.from(value))])));
  }
  return Buffer.concat(parts);
}

/**
 * Sends already-encoded bytes as an `IsActive` request on a plain gRPC client (built with
 * `'grpc.max_send_message_length': -1` to send any size). Resolves with `OK` or the status code
 * and details.
 */
export function rawIsActive(
  client: Client,
  message: Buffer,
  timeoutMs = 60_000,
): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/externalscaler.ExternalScaler/IsActive',
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
      message,
      { deadline: Date.now() + timeoutMs },
      (error) =>
        resolve(error ? { code: error.code, details: error.details } : { code: 0, details: '' }),
    );
  });
}
