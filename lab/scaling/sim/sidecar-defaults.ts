/**
 * What the sidecar assumes for a trigger that states nothing: its own settings' defaults, on its
 * clock. Passed as `parseTriggerMetadata`'s third argument, whose type changes with the scaling
 * decision (`{ drainSeconds }` before the wait objective, `SizingObjective` with it): the object
 * carries what either release reads, so the simulator answers as the sidecar it is built with.
 */
import { parseTriggerMetadata, TRIGGER_KEYS } from '../../../src/keda/trigger-metadata.js';

export type TriggerDefaults = Parameters<typeof parseTriggerMetadata>[2];

/** TARGET_WAIT_SECONDS' default (and, in releases without it, DRAIN_SECONDS'), trace seconds. */
export const SIDECAR_TARGET_WAIT_SECONDS = 30;
const SIDECAR_DRAIN_SECONDS = 60;

export function sidecarDefaults(speed: number, targetWaitSeconds?: number): TriggerDefaults {
  const defaults: Record<string, number> = {
    targetWaitSeconds: targetWaitSeconds ?? SIDECAR_TARGET_WAIT_SECONDS / speed,
  };
  // A sidecar without the wait objective has a DRAIN_SECONDS default; with it, draining defaults
  // to the objective and a drainSeconds here would override that.
  if (!(TRIGGER_KEYS as readonly string[]).includes('targetWaitSeconds')) {
    defaults.drainSeconds = SIDECAR_DRAIN_SECONDS / speed;
  }
  return defaults as unknown as TriggerDefaults;
}
