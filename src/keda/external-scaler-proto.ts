import { fileURLToPath } from 'node:url';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/externalscaler.js';

/** Where our copy of KEDA's externalscaler.proto lives (next to this module, in src/ and dist/). */
export const EXTERNAL_SCALER_PROTO = fileURLToPath(
  new URL('./externalscaler.proto', import.meta.url),
);

/**
 * Loads the service from the .proto; the TypeScript types in `generated/` come from the same file
 * (`npm run gen:proto`). The options match the generator's: field names as written, int64 as
 * numbers, defaults filled in.
 */
export function loadExternalScalerProto(): ProtoGrpcType {
  const definition = loadSync(EXTERNAL_SCALER_PROTO, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
  });
  return loadPackageDefinition(definition) as unknown as ProtoGrpcType;
}
