import { KeyObject } from 'node:crypto';
import { AuditEntry, GENESIS_HASH, hashEntry } from './audit-entry';
import { checkpointHash, checkpointSignatureValid, GENESIS_CHECKPOINT_HASH, publicKeyId, SignedCheckpoint } from './checkpoint';
import { merkleRoot } from './merkle-tree';

export type TrailProblemCode =
  /** A record's content no longer matches its hash (modified). */
  | 'hash_mismatch'
  /** A record does not name its predecessor's hash (inserted, deleted or reordered). */
  | 'broken_link'
  /** Sequence numbers are not 1, 2, 3 … (inserted, deleted or reordered). */
  | 'sequence_break'
  /** A record or checkpoint of another tenant. */
  | 'wrong_tenant'
  /** A checkpoint's signature does not verify with the given public key (forged or altered). */
  | 'bad_signature'
  /** Checkpoints are missing, reordered or swapped (their own chain or numbering breaks). */
  | 'checkpoint_link'
  /** The records a checkpoint covers do not have its Merkle root or chain head (rewritten history). */
  | 'checkpoint_mismatch'
  /** A checkpoint covers records the trail does not contain (truncated tail). */
  | 'truncated'
  /** Records after the last checkpoint: chained but not signed. */
  | 'unsigned_tail'
  /** The newest checkpoint is older than the caller requires (checkpoints cut off at the end). */
  | 'stale';

export interface TrailProblem {
  code: TrailProblemCode;
  message: string;
  seq?: number;
  checkpointSeq?: number;
}

export interface VerifyTrailInput {
  tenantId: string;
  entries: readonly AuditEntry[];
  checkpoints: readonly SignedCheckpoint[];
  publicKey: KeyObject;
  /** Accept records after the last checkpoint (a live database); an export is fully signed. */
  allowUnsignedTail?: boolean;
  /** Require a checkpoint signed at or after this time (guards against a cut-off tail). */
  notBefore?: Date;
}

export interface VerifyTrailResult {
  ok: boolean;
  problems: TrailProblem[];
  records: number;
  checkpoints: number;
  /** Records 1..signedThrough are covered by a verified checkpoint. */
  signedThrough: number;
  lastSignedAt?: string;
}

/**
 * Checks a tenant's trail offline with only the public key: every record hash, every link,
 * gap-free numbering, and every checkpoint (signature, its own chain, the Merkle root and
 * chain head recomputed from the records). Rewriting history consistently (re-hashing every
 * later record) still fails, because the signed checkpoints pin the old roots and heads.
 */
export function verifyTrail(input: VerifyTrailInput): VerifyTrailResult {
  const problems: TrailProblem[] = [];
  const { tenantId, entries, checkpoints, publicKey } = input;
  // Recomputed, never the stored hashes: checkpoints are checked against what the records say.
  const computed = entries.map((e) => hashEntry(e));
  entries.forEach((e, i) => {
    const seq = i + 1;
    if (e.tenantId !== tenantId) problems.push({ code: 'wrong_tenant', seq: e.seq, message: `record at position ${seq} belongs to tenant ${e.tenantId}` });
    if (e.seq !== seq) problems.push({ code: 'sequence_break', seq: e.seq, message: `record at position ${seq} has seq ${e.seq}` });
    if (computed[i] !== e.hash) problems.push({ code: 'hash_mismatch', seq: e.seq, message: `record ${e.seq} does not match its hash (modified)` });
    const expectedPrev = i === 0 ? GENESIS_HASH : entries[i - 1].hash;
    if (e.prevHash !== expectedPrev) problems.push({ code: 'broken_link', seq: e.seq, message: `record ${e.seq} does not link to its predecessor` });
  });

  const keyId = publicKeyId(publicKey);
  let signedThrough = 0;
  let lastSignedAt: string | undefined;
  checkpoints.forEach((c, i) => {
    const at = { checkpointSeq: c.checkpointSeq };
    if (c.keyId !== keyId || !checkpointSignatureValid(publicKey, c)) {
      problems.push({ code: 'bad_signature', ...at, message: `checkpoint ${c.checkpointSeq} is not signed by key ${keyId}` });
    }
    if (c.tenantId !== tenantId) problems.push({ code: 'wrong_tenant', ...at, message: `checkpoint ${c.checkpointSeq} belongs to tenant ${c.tenantId}` });
    const prev = i === 0 ? null : checkpoints[i - 1];
    const expectedPrevHash = prev ? checkpointHash(prev) : GENESIS_CHECKPOINT_HASH;
    if (c.checkpointSeq !== i + 1 || c.prevCheckpointHash !== expectedPrevHash || c.fromSeq !== signedThrough + 1) {
      problems.push({ code: 'checkpoint_link', ...at, message: `checkpoint at position ${i + 1} does not follow its predecessor` });
    }
    if (c.recordCount !== c.toSeq - c.fromSeq + 1 || c.fromSeq < 1) {
      problems.push({ code: 'checkpoint_mismatch', ...at, message: `checkpoint ${c.checkpointSeq} has an inconsistent range` });
    } else if (c.toSeq > entries.length) {
      problems.push({ code: 'truncated', ...at, message: `checkpoint ${c.checkpointSeq} covers records up to ${c.toSeq}, the trail has ${entries.length}` });
    } else {
      const leaves = computed.slice(c.fromSeq - 1, c.toSeq).map((h) => Buffer.from(h, 'hex'));
      if (merkleRoot(leaves).toString('hex') !== c.merkleRoot) {
        problems.push({ code: 'checkpoint_mismatch', ...at, message: `records ${c.fromSeq}..${c.toSeq} do not have checkpoint ${c.checkpointSeq}'s Merkle root` });
      }
      if (computed[c.toSeq - 1] !== c.chainHead) {
        problems.push({ code: 'checkpoint_mismatch', ...at, message: `record ${c.toSeq} is not checkpoint ${c.checkpointSeq}'s chain head` });
      }
    }
    signedThrough = Math.max(signedThrough, c.toSeq);
    lastSignedAt = c.signedAt;
  });
  if (signedThrough < entries.length && !input.allowUnsignedTail) {
    problems.push({ code: 'unsigned_tail', seq: signedThrough + 1, message: `records ${signedThrough + 1}..${entries.length} are not covered by a checkpoint` });
  }
  if (input.notBefore && (!lastSignedAt || Date.parse(lastSignedAt) < input.notBefore.getTime())) {
    problems.push({ code: 'stale', message: `the newest checkpoint (${lastSignedAt ?? 'none'}) is older than ${input.notBefore.toISOString()}` });
  }
  return {
    ok: problems.length === 0,
    problems,
    records: entries.length,
    checkpoints: checkpoints.length,
    signedThrough: Math.min(signedThrough, entries.length),
    lastSignedAt,
  };
}
