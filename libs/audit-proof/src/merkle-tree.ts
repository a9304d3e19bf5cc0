import { hash } from 'node:crypto';

/**
 * Merkle tree hashing and audit paths of RFC 6962 §2.1 (Certificate Transparency): leaves
 * and interior nodes are hashed with distinct prefixes (0x00, 0x01) so a leaf can never be
 * passed off as a node, and a tree of n leaves splits at the largest power of two below n.
 */
const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);

export function leafHash(leaf: Buffer): Buffer {
  return hash('sha256', Buffer.concat([LEAF, leaf]), 'buffer');
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return hash('sha256', Buffer.concat([NODE, left, right]), 'buffer');
}

function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) over already leaf-hashed entries; the empty tree hashes to SHA-256(''). */
function rootOfLeafHashes(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0) return hash('sha256', '', 'buffer');
  if (hashes.length === 1) return hashes[0];
  const k = splitPoint(hashes.length);
  return nodeHash(rootOfLeafHashes(hashes.slice(0, k)), rootOfLeafHashes(hashes.slice(k)));
}

export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  return rootOfLeafHashes(leaves.map(leafHash));
}

/** PATH(m, D[n]): the sibling hashes from leaf m up to the root. */
export function auditPath(index: number, leaves: readonly Buffer[]): Buffer[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) throw new RangeError('leaf index out of range');
  const path = (m: number, hashes: Buffer[]): Buffer[] => {
    if (hashes.length <= 1) return [];
    const k = splitPoint(hashes.length);
    return m < k
      ? [...path(m, hashes.slice(0, k)), rootOfLeafHashes(hashes.slice(k))]
      : [...path(m - k, hashes.slice(k)), rootOfLeafHashes(hashes.slice(0, k))];
  };
  return path(index, leaves.map(leafHash));
}

/** Recomputes the root from a leaf and its audit path (RFC 9162 §2.1.3.2); null when the path does not fit the tree size. */
export function rootFromAuditPath(leaf: Buffer, index: number, treeSize: number, path: readonly Buffer[]): Buffer | null {
  if (!Number.isInteger(index) || !Number.isInteger(treeSize) || index < 0 || index >= treeSize) return null;
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash(leaf);
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}
