import { createHash, createPrivateKey, createPublicKey, KeyObject, sign, verify } from 'node:crypto';
import { AuditEntry, GENESIS_HASH } from './audit-entry';
import { canonicalJson } from './canonical-json';
import { merkleRoot } from './merkle-tree';

/** The predecessor of a tenant's first checkpoint. */
export const GENESIS_CHECKPOINT_HASH = GENESIS_HASH;

/**
 * A signed statement "tenant T's chain had `toSeq` records, ending in `chainHead`; records
 * fromSeq..toSeq have Merkle root `merkleRoot`". Checkpoints form their own chain
 * (prevCheckpointHash), so one cannot be dropped, reordered or borrowed from another tenant
 * without breaking a link or a signature.
 */
export interface CheckpointBody {
  tenantId: string;
  /** 1, 2, 3 … per tenant. */
  checkpointSeq: number;
  fromSeq: number;
  toSeq: number;
  /** toSeq - fromSeq + 1: the records this checkpoint covers. */
  recordCount: number;
  /** RFC 6962 root (hex) over the canonical bytes of records fromSeq..toSeq. */
  merkleRoot: string;
  /** Hash of record toSeq. */
  chainHead: string;
  /** SHA-256 of the previous checkpoint's canonical body + signature. */
  prevCheckpointHash: string;
  /** ISO-8601 time of signing. */
  signedAt: string;
  /** Fingerprint of the signing key (see publicKeyId). */
  keyId: string;
}

export interface SignedCheckpoint extends CheckpointBody {
  /** Ed25519 signature (base64) over canonicalJson(body). */
  signature: string;
}

function bodyOf(c: CheckpointBody): CheckpointBody {
  const { tenantId, checkpointSeq, fromSeq, toSeq, recordCount, merkleRoot: root, chainHead, prevCheckpointHash, signedAt, keyId } = c;
  return { tenantId, checkpointSeq, fromSeq, toSeq, recordCount, merkleRoot: root, chainHead, prevCheckpointHash, signedAt, keyId };
}

export function checkpointBytes(c: CheckpointBody): Buffer {
  return Buffer.from(canonicalJson({ v: 1, ...bodyOf(c) }), 'utf8');
}

export function checkpointHash(c: SignedCheckpoint): string {
  return createHash('sha256').update(checkpointBytes(c)).update(Buffer.from(c.signature, 'base64')).digest('hex');
}

/** Fingerprint of an Ed25519 public key: SHA-256 of its SPKI DER encoding, first 16 hex digits. */
export function publicKeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Reads an Ed25519 public key from PEM (SPKI); throws a readable error otherwise. */
export function parsePublicKey(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 public key, got ${key.asymmetricKeyType}`);
  return key;
}

export function parsePrivateKey(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 private key, got ${key.asymmetricKeyType}`);
  return key;
}

export function merkleRootOf(entries: readonly AuditEntry[]): string {
  return merkleRoot(entries.map((e) => Buffer.from(e.hash, 'hex'))).toString('hex');
}

/**
 * Signs the checkpoint over `entries` (the records since the previous checkpoint, in order).
 * The Merkle leaves are the record hashes: each already commits to the canonical record.
 */
export function signCheckpoint(
  privateKey: KeyObject,
  previous: SignedCheckpoint | null,
  entries: readonly AuditEntry[],
  signedAt: Date = new Date(),
): SignedCheckpoint {
  if (!entries.length) throw new RangeError('a checkpoint covers at least one record');
  const first = entries[0];
  const last = entries[entries.length - 1];
  const body: CheckpointBody = {
    tenantId: first.tenantId,
    checkpointSeq: (previous?.checkpointSeq ?? 0) + 1,
    fromSeq: first.seq,
    toSeq: last.seq,
    recordCount: entries.length,
    merkleRoot: merkleRootOf(entries),
    chainHead: last.hash,
    prevCheckpointHash: previous ? checkpointHash(previous) : GENESIS_CHECKPOINT_HASH,
    signedAt: signedAt.toISOString(),
    keyId: publicKeyId(createPublicKey(privateKey)),
  };
  return { ...body, signature: sign(null, checkpointBytes(body), privateKey).toString('base64') };
}

export function checkpointSignatureValid(publicKey: KeyObject, c: SignedCheckpoint): boolean {
  try {
    return verify(null, checkpointBytes(c), publicKey, Buffer.from(c.signature, 'base64'));
  } catch {
    return false;
  }
}
