import { CoreV1Api } from '@kubernetes/client-node';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';
import { loadKubeConfig } from './kube-config.js';
import { PodDeletionCostKeeper } from './pod-deletion-cost-keeper.js';

/**
 * With POD_DELETION_COST=on (else it does nothing), keeps each worker pod's deletion cost equal to its busy slots, so a
 * scale-in removes idle workers first. Without a cluster to talk to it says so and does nothing.
 */
export function startDeletionCostKeeper(
  config: Pick<Config, 'kubernetes'>,
  signals: ScalingSignals,
  logger: Logger,
): PodDeletionCostKeeper | undefined {
  if (!config.kubernetes.podDeletionCost) return undefined;
  let loaded: ReturnType<typeof loadKubeConfig>;
  try {
    loaded = loadKubeConfig(process.env);
  } catch (error) {
    logger.warn({ err: error }, 'POD_DELETION_COST=on but the kubeconfig cannot be read');
    return undefined;
  }
  if (!loaded) {
    logger.warn(
      'POD_DELETION_COST=on but there is no in-cluster service account or kubeconfig: deletion costs are not kept',
    );
    return undefined;
  }
  const keeper = new PodDeletionCostKeeper({
    signals,
    core: loaded.kc.makeApiClient(CoreV1Api),
    namespace: config.kubernetes.namespace ?? loaded.namespace,
    intervalSeconds: config.kubernetes.podDeletionCostIntervalSeconds,
    logger,
  });
  keeper.start();
  logger.info(
    { namespace: config.kubernetes.namespace ?? loaded.namespace },
    'keeping worker pods’ pod-deletion-cost up to date',
  );
  return keeper;
}
