import { KeyObject } from 'node:crypto';
import { AuditEntry, hashEntry } from './audit-entry';
import { checkpointSignatureValid, publicKeyId, SignedCheckpoint } from './checkpoint';
import { auditPath, rootFromAuditPath } from './merkle-tree';

/**
 * "Record X is in the trail": the record, its position in the Merkle tree of the checkpoint
 * that covers it, and the audit path (RFC 6962) to that checkpoint's signed root. Checking
 * it needs only the public key, not the rest of the trail.
 */
export interface InclusionProof {
  entry: AuditEntry;
  /** entry.seq - checkpoint.fromSeq. */
  leafIndex: number;
  /** checkpoint.recordCount. */
  treeSize: number;
  /** Sibling hashes (hex), leaf to root. */
  auditPath: string[];
  checkpoint: SignedCheckpoint;
}

/** Builds the proof for one record from the records its checkpoint covers (fromSeq..toSeq, in order). */
export function buildInclusionProof(entry: AuditEntry, checkpoint: SignedCheckpoint, covered: readonly AuditEntry[]): InclusionProof {
  const leafIndex = entry.seq - checkpoint.fromSeq;
  if (leafIndex < 0 || entry.seq > checkpoint.toSeq || covered.length !== checkpoint.recordCount) {
    throw new RangeError(`record ${entry.seq} is not covered by checkpoint ${checkpoint.checkpointSeq}`);
  }
  const path = auditPath(leafIndex, covered.map((e) => Buffer.from(e.hash, 'hex')));
  return { entry, leafIndex, treeSize: checkpoint.recordCount, auditPath: path.map((p) => p.toString('hex')), checkpoint };
}

export interface VerifyProofResult {
  ok: boolean;
  problems: string[];
}

export function verifyInclusionProof(proof: InclusionProof, publicKey: KeyObject): VerifyProofResult {
  const problems: string[] = [];
  const { entry, checkpoint } = proof;
  const hash = hashEntry(entry);
  if (hash !== entry.hash) problems.push('the record does not match its hash');
  if (entry.tenantId !== checkpoint.tenantId) problems.push('the record and the checkpoint belong to different tenants');
  if (proof.leafIndex !== entry.seq - checkpoint.fromSeq || proof.treeSize !== checkpoint.recordCount) {
    problems.push('the leaf position does not match the record and the checkpoint');
  }
  const root = rootFromAuditPath(Buffer.from(hash, 'hex'), proof.leafIndex, proof.treeSize, proof.auditPath.map((p) => Buffer.from(p, 'hex')));
  if (!root || root.toString('hex') !== checkpoint.merkleRoot) problems.push("the audit path does not lead to the checkpoint's Merkle root");
  if (checkpoint.keyId !== publicKeyId(publicKey) || !checkpointSignatureValid(publicKey, checkpoint)) {
    problems.push('the checkpoint is not signed by the given public key');
  }
  return { ok: problems.length === 0, problems };
}
