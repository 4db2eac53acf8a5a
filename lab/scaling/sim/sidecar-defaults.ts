/**
 * The sidecar's and the workers' defaults, read from their declarations (`src/config/settings.ts`)
 * so the labs run what ships: the rate window, the default wait objective, the sample TTL, the
 * heartbeat and the utilization window.
 */
import { SETTINGS } from '../../../src/config/settings.js';
import type { SizingObjective } from '../../../src/scaling/worker-sizing.js';

/** The value a setting takes when its variable is not set. */
function shipped(name: 'RATE_WINDOW_SECONDS' | 'TARGET_WAIT_SECONDS'): number;
function shipped(
  name: 'SAMPLE_TTL_MS' | 'HEARTBEAT_SECONDS' | 'UTILIZATION_WINDOW_SECONDS',
): number;
function shipped(name: keyof typeof SETTINGS): number {
  const value: unknown = SETTINGS[name].schema.parse(undefined);
  if (typeof value !== 'number') throw new Error(`${name} has no numeric default`);
  return value;
}

export const SHIPPED = {
  rateWindowSeconds: shipped('RATE_WINDOW_SECONDS'),
  targetWaitSeconds: shipped('TARGET_WAIT_SECONDS'),
  sampleTtlMs: shipped('SAMPLE_TTL_MS'),
  heartbeatSeconds: shipped('HEARTBEAT_SECONDS'),
  utilizationWindowSeconds: shipped('UTILIZATION_WINDOW_SECONDS'),
} as const;

/**
 * What the sidecar assumes for a trigger that states nothing (`parseTriggerMetadata`'s defaults):
 * its default objective, on its clock (`speed` trace seconds per second of it), or `targetWaitSeconds`
 * when the run sets TARGET_WAIT_SECONDS (already on its clock).
 */
export function sidecarDefaults(speed: number, targetWaitSeconds?: number): SizingObjective {
  return { targetWaitSeconds: targetWaitSeconds ?? SHIPPED.targetWaitSeconds / speed };
}
