/**
 * The M/M/c queue (Erlang C): Poisson arrivals, exponential service times, c servers, one FIFO
 * queue. Here a server is a worker slot: a pod that runs k jobs at once holds k servers.
 *
 * Notation: offered load a = arrival rate × mean service time (in busy servers), utilization
 * ρ = a / c; the queue is stable only while a < c.
 */

/** Past this many servers the exact recursion is replaced by the square-root staffing rule. */
const EXACT_SERVER_LIMIT = 100_000;

function checkLoad(servers: number, load: number): void {
  if (!Number.isInteger(servers) || servers < 0) {
    throw new RangeError(`servers must be a whole number ≥ 0, got ${servers}`);
  }
  if (!(load >= 0) || !Number.isFinite(load)) {
    throw new RangeError(`offered load must be a finite number ≥ 0, got ${load}`);
  }
}

/**
 * Erlang B, the blocking probability of c servers under offered load a, by the recursion
 * B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)) (numerically stable for any c).
 */
export function erlangB(servers: number, load: number): number {
  checkLoad(servers, load);
  let b = 1;
  for (let k = 1; k <= servers; k++) b = (load * b) / (k + load * b);
  return b;
}

/** Erlang C from Erlang B of the same c and a: C = c·B / (c − a·(1 − B)); 1 when c ≤ a. */
function erlangCFromB(servers: number, load: number, b: number): number {
  if (servers <= load) return 1;
  return Math.min(1, (servers * b) / (servers - load * (1 - b)));
}

/**
 * Erlang C: the probability that an arrival has to wait (all c servers busy). 1 when c ≤ a (the
 * queue grows without bound), 0 when a = 0.
 */
export function erlangC(servers: number, load: number): number {
  checkLoad(servers, load);
  if (load === 0) return 0;
  return erlangCFromB(servers, load, erlangB(servers, load));
}

/**
 * P(wait > t) in M/M/c: C(c, a) · e^{−(c − a)·t / S}, with S the mean service time. 1 when c ≤ a.
 */
export function waitExceedsProbability(
  servers: number,
  load: number,
  serviceSeconds: number,
  waitSeconds: number,
): number {
  const c = erlangC(servers, load);
  if (servers <= load) return 1;
  return c * Math.exp((-(servers - load) * waitSeconds) / serviceSeconds);
}

/**
 * The wait that a `percentile` of arrivals stay within (e.g. p95 for 0.95) with c servers: 0 when
 * fewer than 1 − percentile of them wait at all, Infinity when c ≤ a.
 */
export function waitPercentile(
  servers: number,
  load: number,
  serviceSeconds: number,
  percentile: number,
): number {
  if (servers <= load) return Infinity;
  const c = erlangC(servers, load);
  const tail = 1 - percentile;
  if (c <= tail) return 0;
  return (serviceSeconds / (servers - load)) * Math.log(c / tail);
}

/** The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  const poly = (k: number[], x: number) => k.reduce((sum, coef) => sum * x + coef, 0);
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -poly(c, q) / (poly(d, q) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

/**
 * The fewest servers that keep P(wait > `waitSeconds`) ≤ 1 − `percentile` under offered load
 * `load` with mean service time `serviceSeconds`: always more than the load (utilization below
 * 100 %), 0 when there is no load.
 *
 * One pass of the Erlang B recursion, checking each c above the load as it goes: O(c). Beyond
 * 100 000 servers (a load no cluster here runs) the square-root staffing rule a + z·√a stands in,
 * z the normal quantile of the percentile, which the exact answer approaches as a grows.
 */
export function serversForWait(
  load: number,
  serviceSeconds: number,
  waitSeconds: number,
  percentile: number,
): number {
  checkLoad(0, load);
  if (!(serviceSeconds > 0) || !Number.isFinite(serviceSeconds)) {
    throw new RangeError(`serviceSeconds must be a finite number > 0, got ${serviceSeconds}`);
  }
  if (!(waitSeconds >= 0) || !Number.isFinite(waitSeconds)) {
    throw new RangeError(`waitSeconds must be a finite number ≥ 0, got ${waitSeconds}`);
  }
  if (!(percentile > 0 && percentile < 1)) {
    throw new RangeError(`percentile must be between 0 and 1, got ${percentile}`);
  }
  if (load === 0) return 0;
  const tail = 1 - percentile;
  if (load > EXACT_SERVER_LIMIT) {
    return Math.ceil(load + normalQuantile(percentile) * Math.sqrt(load));
  }
  let b = 1;
  for (let servers = 1; ; servers++) {
    b = (load * b) / (servers + load * b);
    if (servers <= load) continue;
    const c = erlangCFromB(servers, load, b);
    if (c * Math.exp((-(servers - load) * waitSeconds) / serviceSeconds) <= tail) return servers;
  }
}
