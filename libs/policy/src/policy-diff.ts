/** One changed leaf between two policy documents; `from`/`to` undefined = absent on that side. */
export interface PolicyChange {
  /** Dotted path, e.g. "guardrails.detectors.email" or "allowedModels". */
  path: string;
  from?: unknown;
  to?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Field-level diff of two documents. Arrays are compared as whole values (an allowlist is
 * one setting; listing its added/removed members is left to the reader of `from`/`to`).
 */
export function diffPolicyDocuments(from: unknown, to: unknown, path = ''): PolicyChange[] {
  if (isObject(from) && isObject(to)) {
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    return keys.flatMap((k) => diffPolicyDocuments(from[k], to[k], path ? `${path}.${k}` : k));
  }
  if (JSON.stringify(from) === JSON.stringify(to)) return [];
  const change: PolicyChange = { path: path || '(document)' };
  if (from !== undefined) change.from = from;
  if (to !== undefined) change.to = to;
  return [change];
}
