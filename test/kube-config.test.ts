import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../src/k8s/kube-config.js';
import { FakeKubeApi } from '../harness/fake-kube-api.js';

function kubeconfigYaml(options: { context: string; server: string; namespace?: string }): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    `current-context: ${options.context}`,
    'clusters:',
    `  - name: ${options.context}-cluster`,
    '    cluster:',
    `      server: ${options.server}`,
    '      insecure-skip-tls-verify: true',
    'users:',
    `  - name: ${options.context}-user`,
    '    user:',
    `      token: token-of-${options.context}`,
    'contexts:',
    `  - name: ${options.context}`,
    '    context:',
    `      cluster: ${options.context}-cluster`,
    `      user: ${options.context}-user`,
    ...(options.namespace ? [`      namespace: ${options.namespace}`] : []),
    '',
  ].join('\n');
}

describe('loadKubeConfig', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'qscale-kubeconfig-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function file(name: string, text: string): string {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  function serviceAccount(namespace: string | undefined): string {
    const sa = join(dir, 'sa');
    file('sa/token', 'pod-token');
    file('sa/ca.crt', 'not a real CA');
    if (namespace !== undefined) file('sa/namespace', namespace);
    return sa;
  }

  it("should use the pod's service account in a pod, with the pod's namespace", () => {
    const serviceAccountDir = serviceAccount('qscale\n');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

    const loaded = loadKubeConfig(env, { serviceAccountDir });

    expect(loaded?.namespace).toBe('qscale');
    expect(loaded?.source).toEqual({ kind: 'in-cluster' });
    expect(loaded?.kc.getCurrentCluster()).toMatchObject({
      server: 'https://10.96.0.1:443',
      caFile: join(serviceAccountDir, 'ca.crt'),
      skipTLSVerify: false,
    });
    expect(loaded?.kc.getCurrentUser()?.authProvider).toEqual({
      name: 'tokenFile',
      config: { tokenFile: join(serviceAccountDir, 'token') },
    });
  });

  it('should bracket an IPv6 API server address and default the namespace', () => {
    const loaded = loadKubeConfig(
      { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' },
      { serviceAccountDir: serviceAccount(undefined) },
    );
    expect(loaded?.kc.getCurrentCluster()?.server).toBe('https://[fd00::1]:6443');
    expect(loaded?.namespace).toBe('default');
  });

  it('should send the kubeconfig user token to the API server it names', async () => {
    const api = await new FakeKubeApi().start();
    try {
      api.get('/api/v1/namespaces/team-a/pods', { kind: 'PodList', metadata: {}, items: [] });
      const path = file(
        'config',
        kubeconfigYaml({ context: 'dev', server: api.url, namespace: 'team-a' }),
      );
      const loaded = loadKubeConfig({}, { kubeconfig: path });
      expect(loaded?.namespace).toBe('team-a');
      expect(loaded?.source).toEqual({ kind: 'kubeconfig', path });

      await loaded!.kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: loaded!.namespace });

      expect(api.requests[0]?.headers.authorization).toBe('Bearer token-of-dev');
    } finally {
      await api.close();
    }
  });

  it('should prefer an explicit kubeconfig to the service account, and refuse a missing one', () => {
    const path = file(
      'mine',
      kubeconfigYaml({ context: 'mine', server: 'https://k.example:6443' }),
    );
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const serviceAccountDir = serviceAccount('qscale');

    const loaded = loadKubeConfig(env, { kubeconfig: path, serviceAccountDir });
    expect(loaded?.kc.getCurrentContext()).toBe('mine');
    expect(loaded?.namespace).toBe('default');
    expect(() => loadKubeConfig(env, { kubeconfig: join(dir, 'nope') })).toThrow(
      /kubeconfig .*nope does not exist/,
    );
  });

  it('should merge the KUBECONFIG files that exist, the first current context winning', () => {
    const first = file('a', kubeconfigYaml({ context: 'a', server: 'https://a:6443' }));
    const second = file(
      'b',
      kubeconfigYaml({ context: 'b', server: 'https://b:6443', namespace: 'nb' }),
    );
    const missing = join(dir, 'missing');

    const loaded = loadKubeConfig({ KUBECONFIG: [missing, first, second].join(delimiter) });

    expect(loaded?.kc.getCurrentContext()).toBe('a');
    expect(loaded?.kc.getContextObject('b')?.namespace).toBe('nb');
    expect(loaded?.kc.getCurrentCluster()?.server).toBe('https://a:6443');
  });

  it('should read ~/.kube/config when nothing else is set', () => {
    file('home/.kube/config', kubeconfigYaml({ context: 'home', server: 'https://h:6443' }));
    const loaded = loadKubeConfig({ HOME: join(dir, 'home') });
    expect(loaded?.kc.getCurrentContext()).toBe('home');
  });

  it('should find nothing without a kubeconfig or a mounted token', () => {
    const home = join(dir, 'empty-home');
    mkdirSync(home);
    expect(loadKubeConfig({ HOME: home })).toBeUndefined();
    // A pod with automountServiceAccountToken: false has the variables but no token.
    expect(
      loadKubeConfig(
        { HOME: home, KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
        { serviceAccountDir: join(dir, 'no-sa') },
      ),
    ).toBeUndefined();
    expect(loadKubeConfig({ KUBECONFIG: join(dir, 'missing') })).toBeUndefined();
  });
});
