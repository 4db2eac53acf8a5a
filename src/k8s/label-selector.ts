import type { V1LabelSelector } from '@kubernetes/client-node';

/**
 * A LabelSelector as the `labelSelector` query parameter of a list call (`a=b,c in (d,e),!f`), the
 * syntax `kubectl -l` takes too. Undefined for an empty selector (which would match everything).
 */
export function labelSelectorQuery(selector: V1LabelSelector | undefined): string | undefined {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(
    ([key, value]) => `${key}=${value}`,
  );
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    if (operator === 'In') parts.push(`${key} in (${values.join(',')})`);
    else if (operator === 'NotIn') parts.push(`${key} notin (${values.join(',')})`);
    else if (operator === 'Exists') parts.push(key);
    else if (operator === 'DoesNotExist') parts.push(`!${key}`);
    else throw new RangeError(`unknown label selector operator ${operator}`);
  }
  return parts.length > 0 ? parts.join(',') : undefined;
}
