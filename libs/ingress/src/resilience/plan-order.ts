import { hash } from 'node:crypto';

/** What ordering needs of a deployment. */
export interface Weighted {
  id: string;
  weight: number;
  /** Lower is tried first; deployments of one priority share traffic by weight. */
  priority: number;
  /** A tenant's own deployment (alias) outranks the platform's. */
  tenantOwned?: boolean;
}

/**
 * The order in which a plan's deployments are tried. Routing sorts by ownership and
 * priority; within each priority group the first is drawn by weight (a 90/10 canary sends
 * 90 % to the first), the rest follow by weight as fallbacks, then the next group.
 * With a `stickyKey` (an end user) the draw is a hash of it, so one user stays on one
 * deployment while the weights hold.
 */
export function orderByWeight<T extends Weighted>(deployments: readonly T[], stickyKey?: string, random = Math.random): T[] {
  if (deployments.length < 2) return [...deployments];
  const out: T[] = [];
  let start = 0;
  while (start < deployments.length) {
    let end = start + 1;
    const head = deployments[start];
    while (end < deployments.length && deployments[end].priority === head.priority && !!deployments[end].tenantOwned === !!head.tenantOwned) end++;
    out.push(...drawGroup(deployments.slice(start, end), stickyKey ? stickyUnit(stickyKey) : random()));
    start = end;
  }
  return out;
}

function drawGroup<T extends Weighted>(group: T[], u: number): T[] {
  if (group.length === 1) return group;
  const byWeight = [...group].sort((a, b) => b.weight - a.weight || (a.id < b.id ? -1 : 1));
  const total = byWeight.reduce((s, d) => s + Math.max(0, d.weight), 0);
  if (total <= 0) return byWeight;
  let x = u * total;
  let chosen = byWeight.length - 1;
  for (let i = 0; i < byWeight.length; i++) {
    x -= Math.max(0, byWeight[i].weight);
    if (x < 0) {
      chosen = i;
      break;
    }
  }
  return [byWeight[chosen], ...byWeight.filter((_, i) => i !== chosen)];
}

/** A stable number in [0, 1) from a string. */
function stickyUnit(key: string): number {
  return hash('sha256', key, 'buffer').readUInt32BE(0) / 2 ** 32;
}
