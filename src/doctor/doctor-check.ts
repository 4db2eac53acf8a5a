/** OK: nothing to do. WARN: worth a look. FAIL: broken, with the fix in `fix`. */
export type CheckStatus = 'OK' | 'WARN' | 'FAIL';

export type CheckArea = 'redis' | 'queue' | 'workers' | 'kubernetes' | 'autoscaling';

/** One line of `qscale doctor`: what was checked, what was found, and what to do. */
export interface DoctorCheck {
  area: CheckArea;
  /** Short name, e.g. `maxmemory-policy`. */
  name: string;
  status: CheckStatus;
  /** What was found, in words and numbers. */
  found: string;
  /** What to do about it (WARN and FAIL). */
  fix?: string;
  /** Machine-readable figures for `--json`. */
  details?: Record<string, unknown>;
}

/** The worst status of a list: FAIL > WARN > OK. */
export function worstStatus(checks: readonly DoctorCheck[]): CheckStatus {
  if (checks.some((check) => check.status === 'FAIL')) return 'FAIL';
  if (checks.some((check) => check.status === 'WARN')) return 'WARN';
  return 'OK';
}

/** Exit code of `qscale doctor`: 0 all OK, 1 warnings, 2 failures. */
export function exitCodeFor(checks: readonly DoctorCheck[]): 0 | 1 | 2 {
  const worst = worstStatus(checks);
  return worst === 'FAIL' ? 2 : worst === 'WARN' ? 1 : 0;
}
