/** The fixed prose of the simulator's report: the reference and what the model covers. */

/** `undercut`: runs that met the objective below the clairvoyant's worker-seconds. */
export function referenceText(undercut: number): string[] {
  return [
    '## The clairvoyant reference',
    '',
    'The clairvoyant knows every arrival and every job’s length in advance (the very jobs the policies got), starts pods with the same start-up (the policies’ mean: Pending + the worker’s own start) and concurrency, and starts **every** job within the objective — not only 95 % of them. It is built, not searched for (`sim/clairvoyant.ts`):',
    '',
    '1. Jobs in arrival order go to a slot already planned when one is free before the job’s deadline (arrival + objective), starting as soon as job and slot are both there: slots already paid for are used before a new pod is. Which free slot: the one free earliest, the one free latest, or the latest among those free at once (packing work onto pods that are busy anyway, so others go idle).',
    '2. When no slot is free in time, a new pod is planned, ready at arrival + θ × objective (θ = 0, ½ or 1: ready early, its slots take more of a burst; ready late, it costs less).',
    '3. Each pod is created a start-up before its first job and deleted as soon as all its slots are idle, unless its next job comes sooner than a start-up would take (keeping it idle then costs less than a new pod).',
    '4. The cheapest of the 9 variants is kept.',
    '',
    `Why it is a fair (near-)lower bound: it pays what every policy pays — a start-up per pod, whole pods of \`WORKER_CONCURRENCY\` slots, a pod alive from creation to end — and only removes what knowledge removes: it never waits for a metric, a poll, a sync or a stabilization window, never keeps an idle pod it will not need, and never starts a pod a job will not use. It meets a stricter objective (every job, not the p95), so a policy that meets the p95 might in principle undercut it by leaving the slowest 5 % to wait; ${undercut === 0 ? 'in these runs none that met the objective did' : `in these runs ${undercut} that met the objective did`}. It is a construction, not an optimum: the lower bound row shows how far below it any schedule could be.`,
    '',
    'The true lower bound (`lowerBound`): every job-second must be held by a slot, so pods are ready for at least job-seconds ÷ concurrency; and every pod pays a start-up before it runs anything. A job longer than the objective must be running from its deadline to arrival + its length whenever it started, so the most such jobs at one instant need that many slots at once: at least that many ÷ concurrency pods, each with its start-up (at least one pod for any work). It ignores that a burst cannot start within the objective on few slots, so on bursts it is loose.',
    '',
  ];
}

/** `killed`: pods killed after the grace period, over every run. */
export function howItWorks(killed: number): string[] {
  return [
    '## How it works',
    '',
    '- **Virtual time** (`sim/sim-cluster.ts`, `event-queue.ts`): a binary heap of events (a job added, started, finished; a pod’s container start, readiness, heartbeat, flush of job ends, SIGKILL; a push evaluation), and one tick per trace second for the control loops, exactly as `run.ts` ticks: the sidecar is read (the lab’s `/metrics` scrape; the sidecar’s background read), the policy ticks (the HPA syncs every 15 s, KEDA polls at the manifest’s `pollingInterval`, a pushed `true` is taken at the next tick), the Deployment is scaled. Deterministic: the same seed gives the same runs.',
    "- **Policies** (`policies.ts`, `policy-loops.ts`): shared with the real lab. The simulator answers their reads from its state (`sim/sim-io.ts`): the qscale triggers through the sidecar's own `ScalingSignals`, `parseTriggerMetadata`, `scalingValue` and `isActive` over a `SampleSource` that builds each sample as the real sampler reads Redis (`sim/sim-sample-source.ts`); KEDA's redis scaler from the wait list's length; `hpa-external-10` from the backlog as prometheus-adapter serves it; `hpa-cpu-80` from the pods' CPU over the last minute.",
    '- **The workers’ telemetry** (`sim/worker-reports.ts`): the sidecar sees a worker’s busy slots and its longest-running job as of its last heartbeat (HEARTBEAT_SECONDS) or flush of job ends (100 ms after a job ends), and the processing and wait histograms only as flushed, like the real `WorkerTelemetry`. At most WORKER_SERIES_LIMIT (100) workers are listed, the longest-running first; the totals count all.',
    "- **Pods** (`sim/sim-cluster.ts`): created → Pending for the start-up delay → the worker's own start → Ready, taking jobs into `WORKER_CONCURRENCY` slots (a BullMQ worker fetches while it has capacity; idle workers wait on the queue in the order they started waiting). Scale-in through `replica-set.ts`'s `podsToDelete` with pod-deletion-cost = the busy slots the sidecar last listed (what the deletion-cost keeper knows); a deleted pod stops taking jobs, finishes the ones it runs and ends, or is killed after terminationGracePeriodSeconds (its jobs go back to the head of the queue). Worker-seconds from each pod’s creation to its end, as the real lab counts them.",
    "- **Outage**: the sidecar answers errors (KEDA counts failures and falls back), `StreamIsActive` ends and KEDA reconnects with its backoff, the adapter's value goes stale after 5 minutes; the restarted sidecar has an empty rate history.",
    '',
    '## What it does not model',
    '',
    '- Failures of jobs, retries, Redis itself (latency, memory, failover), the upload API’s back-pressure; jobs are never delayed or prioritized.',
    '- Nodes: pods never wait for a node (no cluster autoscaler), never share CPU (outside the calibration) and never get evicted; image pulls do not get faster for later pods on a node.',
    '- Costs of the control plane: KEDA’s and the HPA’s own delays beyond their periods, API-server latency, the deletion-cost keeper’s 10 s patch interval (the cost is read at the scale-in).',
    `- The stalled-job check of BullMQ: a killed pod’s jobs go back at once, not after the lock expires (${killed === 0 ? 'no pod was killed in these runs' : `${killed} ${killed === 1 ? 'pod was' : 'pods were'} killed in these runs, each with a job longer than the grace period`}).`,
    '- The stored history itself: a `-known` trace hands the sidecar the mean job time and concurrency as its start-up read of the history would; the others start with a new queue.',
    '- Start-up costs that grow when many pods start at once on shared cores, outside the calibration (there, the worker’s own start and a pod’s first job share the lab’s cores).',
    '- In the calibration: the real lab’s CPU contention outside the jobs (each job is replayed at its real length, but the sidecar’s and the upload API’s own slowness under load is not modelled), and the real loop’s tick lag (a tick takes 20–40 ms real, 0.4–0.8 trace s at 20×).',
    '',
  ];
}
