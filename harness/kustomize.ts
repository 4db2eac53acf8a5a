import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseAllDocuments } from 'yaml';

/** The repository root: kustomization paths are relative to it. */
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** What every rendered document has; the rest is checked by its schema. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

interface Validatable {
  validate(): void;
}

/** Any kubernetes-models class: `never` accepts every constructor's data type. */
type ModelClass = new (data: never) => Validatable;

/**
 * The schema of every kind the manifests use, by `apiVersion/kind`. A kind missing here fails
 * validation: add its kubernetes-models class rather than let an object go unchecked.
 */
const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Kinds that live outside any namespace. */
export const CLUSTER_SCOPED_KINDS: readonly string[] = ['Namespace'];

function isKubeObject(value: unknown): value is KubeObject {
  if (typeof value !== 'object' || value === null) return false;
  const { apiVersion, kind, metadata } = value as Record<string, unknown>;
  return (
    typeof apiVersion === 'string' &&
    typeof kind === 'string' &&
    typeof metadata === 'object' &&
    metadata !== null &&
    typeof (metadata as Record<string, unknown>).name === 'string'
  );
}

/**
 * Checks one object against the OpenAPI schema of its kind. Throws an error that names the object
 * and the offending field (e.g. `Deployment/x: data/spec/.../containerPort must be integer`), or
 * says that the kind has no schema in {@link MODELS}.
 */
export function validateObject(object: unknown): asserts object is KubeObject {
  if (!isKubeObject(object)) {
    throw new Error(
      `not a Kubernetes object (needs apiVersion, kind, metadata.name): ${JSON.stringify(object)}`,
    );
  }
  const key = `${object.apiVersion}/${object.kind}`;
  const Model = MODELS[key];
  if (!Model) {
    throw new Error(
      `${object.kind}/${object.metadata.name}: no schema for ${key} in harness/kustomize.ts; add its kubernetes-models class to MODELS`,
    );
  }
  try {
    new Model(object as never).validate();
  } catch (error) {
    throw new Error(
      `${object.kind}/${object.metadata.name}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/**
 * Renders a kustomization with `kubectl kustomize` and parses every document. Throws if kubectl is
 * missing, the build fails or a document is not valid YAML; schemas are checked separately
 * ({@link validateObject}).
 */
export function kustomize(dir: string): unknown[] {
  let output: string;
  try {
    output = execFileSync('kubectl', ['kustomize', dir], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const { code, stderr } = error as { code?: string; stderr?: string };
    if (code === 'ENOENT') {
      throw new Error('kubectl (with its built-in kustomize) is needed to render k8s/: not found', {
        cause: error,
      });
    }
    throw new Error(`kubectl kustomize ${dir} failed: ${stderr ?? String(error)}`, {
      cause: error,
    });
  }
  return parseAllDocuments(output).flatMap((document) => {
    if (document.errors.length > 0) {
      throw new Error(`kubectl kustomize ${dir}: bad YAML: ${document.errors[0]!.message}`);
    }
    const value: unknown = document.toJS();
    return value === null ? [] : [value];
  });
}

/** A Deployment's pod template, with what the checks need. */
export interface PodTemplate {
  deployment: IDeployment;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: IPodSpec;
}

export function podTemplates(objects: readonly unknown[]): PodTemplate[] {
  return objects.filter(Deployment.is).map((deployment) => ({
    deployment,
    name: deployment.metadata?.name ?? '',
    labels: deployment.spec?.template.metadata?.labels ?? {},
    annotations: deployment.spec?.template.metadata?.annotations ?? {},
    spec: deployment.spec?.template.spec ?? { containers: [] },
  }));
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether `labels` satisfy a LabelSelector (or a Service's plain map selector). */
export function selects(
  selector: LabelSelector | Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  const isLabelSelector = 'matchLabels' in selector || 'matchExpressions' in selector;
  const { matchLabels = {}, matchExpressions = [] }: LabelSelector = isLabelSelector
    ? (selector as LabelSelector)
    : { matchLabels: selector as Record<string, string> };
  const expressionsHold = matchExpressions.every(({ key, operator, values = [] }) => {
    switch (operator) {
      case 'In':
        return key in labels && values.includes(labels[key]!);
      case 'NotIn':
        return !(key in labels) || !values.includes(labels[key]!);
      case 'Exists':
        return key in labels;
      case 'DoesNotExist':
        return !(key in labels);
      default:
        throw new Error(`unknown label selector operator ${operator}`);
    }
  });
  return (
    Object.entries(matchLabels).every(([key, value]) => labels[key] === value) && expressionsHold
  );
}

/** One end of a connection, for {@link ingressAllowed}. */
export interface Endpoint {
  namespace: string;
  /** The namespace's labels (Kubernetes sets `kubernetes.io/metadata.name` on every namespace). */
  namespaceLabels?: Record<string, string>;
  /** The pod's labels; `{}` for a client outside the cluster's pods. */
  labels: Record<string, string>;
}

interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: unknown;
}

interface IngressPolicy {
  metadata?: { namespace?: string };
  spec?: {
    podSelector: LabelSelector;
    policyTypes?: string[];
    ingress?: { from?: PolicyPeer[]; ports?: { port?: number | string; protocol?: string }[] }[];
  };
}

/**
 * Whether NetworkPolicies let `source` open a TCP connection to `target` on `port`, by the
 * Kubernetes rules: a pod no Ingress policy selects accepts everything; otherwise the union of the
 * rules of the policies that select it. Numbered ports only; ipBlock peers never match here.
 */
export function ingressAllowed(
  policies: readonly IngressPolicy[],
  target: Endpoint,
  source: Endpoint,
  port: number,
): boolean {
  const namespaceLabels = (endpoint: Endpoint) =>
    endpoint.namespaceLabels ?? { 'kubernetes.io/metadata.name': endpoint.namespace };
  const applying = policies.filter(
    (policy) =>
      (policy.metadata?.namespace ?? '') === target.namespace &&
      (policy.spec?.policyTypes ?? ['Ingress']).includes('Ingress') &&
      selects(policy.spec?.podSelector ?? {}, target.labels),
  );
  if (applying.length === 0) return true;
  const peerMatches = (peer: PolicyPeer) => {
    if (peer.ipBlock) return false;
    const namespaceOk = peer.namespaceSelector
      ? selects(peer.namespaceSelector, namespaceLabels(source))
      : source.namespace === target.namespace;
    const podOk = peer.podSelector ? selects(peer.podSelector, source.labels) : true;
    return namespaceOk && podOk;
  };
  return applying.some((policy) =>
    (policy.spec?.ingress ?? []).some(
      (rule) =>
        (rule.from === undefined || rule.from.length === 0 || rule.from.some(peerMatches)) &&
        (rule.ports === undefined ||
          rule.ports.length === 0 ||
          rule.ports.some(
            (p) => (p.protocol ?? 'TCP') === 'TCP' && (p.port === undefined || p.port === port),
          )),
    ),
  );
}
