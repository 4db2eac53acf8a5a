import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { isIPv6 } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/** The environment variables {@link loadKubeConfig} reads (pass `process.env`). */
export type KubeEnv = Readonly<Record<string, string | undefined>>;

/** Where Kubernetes mounts a pod's service account token, CA bundle and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadKubeConfigOptions {
  /** A kubeconfig file; when given it wins over everything else, and it must exist. */
  kubeconfig?: string;
  /** The service account mount, for tests. @defaultValue {@link SERVICE_ACCOUNT_DIR} */
  serviceAccountDir?: string;
}

/** A usable client configuration and the namespace it points at. */
export interface LoadedKubeConfig {
  kc: KubeConfig;
  namespace: string;
  /** Where it came from: the pod's service account, or a kubeconfig file (the first one read). */
  source: { kind: 'in-cluster' } | { kind: 'kubeconfig'; path: string };
}

function inCluster(env: KubeEnv, dir: string): LoadedKubeConfig | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const tokenFile = join(dir, 'token');
  // A pod with automountServiceAccountToken: false has the variables but no token: not usable.
  if (!host || !existsSync(tokenFile)) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  const namespaceFile = join(dir, 'namespace');
  const namespace = existsSync(namespaceFile)
    ? readFileSync(namespaceFile, 'utf8').trim() || 'default'
    : 'default';
  const kc = new KubeConfig();
  kc.addCluster({
    name: 'in-cluster',
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    caFile: join(dir, 'ca.crt'),
    skipTLSVerify: false,
  });
  // A tokenFile provider re-reads the token (projected tokens are rotated by the kubelet).
  kc.addUser({ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile } } });
  kc.addContext({ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', namespace });
  kc.setCurrentContext('in-cluster');
  return { kc, namespace, source: { kind: 'in-cluster' } };
}

/**
 * Reads kubeconfig files the way kubectl merges a KUBECONFIG list: the first file to name a
 * cluster, user or context (or the current context) wins.
 */
function fromFiles(paths: readonly string[]): LoadedKubeConfig | undefined {
  if (paths.length === 0) return undefined;
  const kc = new KubeConfig();
  kc.loadFromFile(paths[0]!);
  for (const path of paths.slice(1)) {
    const more = new KubeConfig();
    more.loadFromFile(path);
    if (!kc.currentContext && more.currentContext) kc.setCurrentContext(more.currentContext);
    for (const cluster of more.clusters) if (!kc.getCluster(cluster.name)) kc.addCluster(cluster);
    for (const user of more.users) if (!kc.getUser(user.name)) kc.addUser(user);
    for (const context of more.contexts) {
      if (!kc.getContextObject(context.name)) kc.addContext(context);
    }
  }
  if (!kc.getCurrentCluster()) return undefined;
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  return { kc, namespace, source: { kind: 'kubeconfig', path: paths[0]! } };
}

/**
 * Finds the Kubernetes API to talk to, in this order:
 * 1. `options.kubeconfig`, when given (as kubectl's `--kubeconfig`; an explicit choice is never
 *    ignored, even in a pod);
 * 2. in a pod (`KUBERNETES_SERVICE_HOST` set and a service account token mounted): the API server's
 *    Service with the pod's token and CA, namespace from the service account mount;
 * 3. the files listed in `KUBECONFIG` (those that exist), else `~/.kube/config`, namespace from the
 *    current context (default `default`).
 *
 * Returns undefined when none of them is there or the kubeconfig has no usable current context.
 * Throws when `options.kubeconfig` does not exist or a kubeconfig file cannot be parsed.
 *
 * @param env the process environment (`process.env`): only `src/config` reads it itself.
 */
export function loadKubeConfig(
  env: KubeEnv,
  options: LoadKubeConfigOptions = {},
): LoadedKubeConfig | undefined {
  if (options.kubeconfig !== undefined) {
    if (!existsSync(options.kubeconfig)) {
      throw new Error(`kubeconfig ${options.kubeconfig} does not exist`);
    }
    return fromFiles([options.kubeconfig]);
  }
  const pod = inCluster(env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  if (pod) return pod;
  if (env.KUBECONFIG) {
    return fromFiles(env.KUBECONFIG.split(delimiter).filter((p) => p !== '' && existsSync(p)));
  }
  const home = env.HOME || env.USERPROFILE || homedir();
  const standard = join(home, '.kube', 'config');
  return existsSync(standard) ? fromFiles([standard]) : undefined;
}
