import { hash } from 'node:crypto';
import { canonicalJson, JsonValue } from './canonical-json';

/** The predecessor hash of a tenant's first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** The platform chain: admin changes that concern every tenant (a platform deployment or credential). */
export const PLATFORM_CHAIN = '*';

export type AuditEntryKind = 'request' | 'admin_change';

/**
 * One record of a tenant's chain, exactly as it is hashed, exported and verified. `fields`
 * holds what the record says (the request decision, or the admin change); everything else
 * places it in the chain.
 */
export interface AuditEntry {
  tenantId: string;
  /** 1, 2, 3 … per tenant, without gaps. */
  seq: number;
  /** Hash of record seq-1 (GENESIS_HASH for seq 1). */
  prevHash: string;
  eventId: string;
  kind: AuditEntryKind;
  /** ISO-8601 UTC with milliseconds. */
  occurredAt: string;
  requestId: string;
  fields: { [key: string]: JsonValue };
  /** SHA-256 (hex) of the canonical encoding of every other property. */
  hash: string;
}

export type UnhashedEntry = Omit<AuditEntry, 'hash'>;

/** The bytes a record's hash covers (and the Merkle leaf of a checkpoint). */
export function entryBytes(entry: UnhashedEntry): Buffer {
  const { tenantId, seq, prevHash, eventId, kind, occurredAt, requestId, fields } = entry;
  // Written in canonical (sorted) key order, so the encoder need not sort them.
  return Buffer.from(canonicalJson({ eventId, fields, kind, occurredAt, prevHash, requestId, seq, tenantId, v: 1 }), 'utf8');
}

export function hashEntry(entry: UnhashedEntry): string {
  return hash('sha256', entryBytes(entry), 'hex');
}

/** Links records onto a chain head: assigns seq and prevHash, computes each hash. */
export function chainEntries(head: { seq: number; hash: string }, entries: ReadonlyArray<Omit<UnhashedEntry, 'seq' | 'prevHash'>>): AuditEntry[] {
  let { seq, hash } = head;
  return entries.map((e) => {
    const unhashed: UnhashedEntry = { ...e, seq: seq + 1, prevHash: hash };
    seq += 1;
    hash = hashEntry(unhashed);
    return { ...unhashed, hash };
  });
}
