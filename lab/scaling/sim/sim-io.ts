/** What the policies read in a simulated run: the cluster's state and the simulated sidecar. */
import type { PolicyIo } from '../policy-io.js';
import type { SimCluster } from './sim-cluster.js';
import type { SimSidecar } from './sim-sidecar.js';

export function simIo(cluster: SimCluster, sidecar: SimSidecar): PolicyIo {
  return {
    replicas: () => cluster.replicas,
    pods: () =>
      [...cluster.live].map((pod) => ({
        name: pod.name,
        running: !Number.isNaN(pod.containerAt),
        createdAt: pod.createdAt * 1000,
        readySince: Number.isNaN(pod.readyAt) ? undefined : pod.readyAt * 1000,
        cpuSeconds: () => cluster.cpuSeconds(pod),
      })),
    queueLength: () => sidecar.queueLength(),
    desiredWorkers: () => sidecar.desiredWorkers(),
    // KEDA's redis scaler reads Redis itself: the sidecar's outages do not touch it.
    waitListLength: async () => cluster.queue.length,
    scaler: (metadata) => sidecar.scalerRead(metadata),
    streamIsActive: (metadata, onTrue) => sidecar.streamIsActive(metadata, onTrue),
  };
}
