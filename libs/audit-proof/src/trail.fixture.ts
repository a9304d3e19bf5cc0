import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { AuditEntry, chainEntries } from './audit-entry';
import { signCheckpoint, SignedCheckpoint } from './checkpoint';

export interface FixtureTrail {
  entries: AuditEntry[];
  checkpoints: SignedCheckpoint[];
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export function newSigningKey(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

/** A tenant's trail of `count` request records with a checkpoint every `every` records (and one over the rest). */
export function fixtureTrail(tenantId: string, count: number, every: number, key = newSigningKey()): FixtureTrail {
  const entries = chainEntries(
    { seq: 0, hash: '0'.repeat(64) },
    Array.from({ length: count }, (_, i) => ({
      tenantId,
      eventId: `evt-${tenantId}-${i + 1}`,
      kind: 'request' as const,
      occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      requestId: `req-${i + 1}`,
      fields: { keyId: 'key_1', requestedModel: 'gpt-4o', credentialId: 'cred_1', credentialVersion: 1 + (i % 3), policyVersion: 2 },
    })),
  );
  const checkpoints: SignedCheckpoint[] = [];
  for (let from = 0; from < count; from += every) {
    const covered = entries.slice(from, Math.min(from + every, count));
    checkpoints.push(signCheckpoint(key.privateKey, checkpoints.at(-1) ?? null, covered, new Date(Date.UTC(2026, 0, 2, 0, checkpoints.length))));
  }
  return { entries, checkpoints, ...key };
}
