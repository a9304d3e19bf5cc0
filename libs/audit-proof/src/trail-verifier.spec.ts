import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { AuditEntry, chainEntries, GENESIS_HASH, hashEntry } from './audit-entry';
import { signCheckpoint, SignedCheckpoint } from './checkpoint';
import { buildInclusionProof, verifyInclusionProof } from './inclusion-proof';
import { formatExport, parseExport } from './trail-export';
import { fixtureTrail, newSigningKey } from './trail.fixture';
import { TrailProblemCode, verifyTrail } from './trail-verifier';

const TENANT = 'tenant_a';
const N = 23;
const EVERY = 5;
const base = fixtureTrail(TENANT, N, EVERY);

function verify(entries: AuditEntry[], checkpoints: SignedCheckpoint[] = base.checkpoints, extra: { notBefore?: Date } = {}) {
  return verifyTrail({ tenantId: TENANT, entries, checkpoints, publicKey: base.publicKey, ...extra });
}

function codes(result: ReturnType<typeof verify>): TrailProblemCode[] {
  return [...new Set(result.problems.map((p) => p.code))];
}

/** Re-links records from position `from` on, as an attacker with database access would after a change. */
function rechain(entries: AuditEntry[]): AuditEntry[] {
  return chainEntries(
    { seq: 0, hash: GENESIS_HASH },
    entries.map(({ tenantId, eventId, kind, occurredAt, requestId, fields }) => ({ tenantId, eventId, kind, occurredAt, requestId, fields })),
  );
}

const clone = (entries: AuditEntry[]) => entries.map((e) => ({ ...e, fields: { ...e.fields } }));

describe('verifyTrail', () => {
  it('accepts an intact trail, fully signed', () => {
    const result = verify(base.entries);
    assert.deepEqual(result.problems, []);
    assert.equal(result.ok, true);
    assert.equal(result.signedThrough, N);
  });

  it('detects a modified record at every position, with or without its hash recomputed, and with the whole chain rebuilt', () => {
    for (let i = 0; i < N; i++) {
      const plain = clone(base.entries);
      plain[i].fields.credentialId = 'cred_forged';
      assert.ok(codes(verify(plain)).includes('hash_mismatch'), `plain edit at ${i + 1}`);

      const rehashed = clone(plain);
      rehashed[i].hash = hashEntry(rehashed[i]);
      assert.equal(verify(rehashed).ok, false, `re-hashed edit at ${i + 1}`);

      const rebuilt = rechain(plain);
      const result = verify(rebuilt);
      assert.ok(codes(result).includes('checkpoint_mismatch'), `re-chained edit at ${i + 1}: ${codes(result)}`);
    }
  });

  it('detects a deleted record at every position, also when the rest is renumbered and re-chained', () => {
    for (let i = 0; i < N; i++) {
      const gap = base.entries.filter((_, j) => j !== i);
      assert.equal(verify(gap).ok, false, `deleted ${i + 1}`);
      assert.equal(verify(rechain(gap)).ok, false, `deleted and re-chained ${i + 1}`);
    }
  });

  it('detects an inserted record at every position, also when re-chained', () => {
    for (let i = 0; i <= N; i++) {
      const forged = { ...base.entries[0], eventId: 'evt-forged', requestId: 'req-forged' };
      const inserted = [...base.entries.slice(0, i), forged, ...base.entries.slice(i)];
      assert.equal(verify(inserted).ok, false, `inserted at ${i}`);
      assert.equal(verify(rechain(inserted)).ok, false, `inserted and re-chained at ${i}`);
    }
  });

  it('detects every swap of two neighbouring records, also when re-chained', () => {
    for (let i = 0; i + 1 < N; i++) {
      const swapped = [...base.entries];
      [swapped[i], swapped[i + 1]] = [swapped[i + 1], swapped[i]];
      assert.equal(verify(swapped).ok, false, `swapped ${i + 1}/${i + 2}`);
      assert.equal(verify(rechain(swapped)).ok, false, `swapped and re-chained ${i + 1}/${i + 2}`);
    }
  });

  it('detects a truncated tail of every length', () => {
    for (let k = 1; k <= N; k++) {
      assert.ok(codes(verify(base.entries.slice(0, N - k))).includes('truncated'), `dropped last ${k}`);
    }
  });

  it('detects records and checkpoints cut off together when the auditor asks for a recent checkpoint', () => {
    const last = base.checkpoints.at(-1)!;
    const cut = verify(base.entries.slice(0, last.fromSeq - 1), base.checkpoints.slice(0, -1), { notBefore: new Date(last.signedAt) });
    assert.deepEqual(codes(cut), ['stale']);
    assert.equal(verify(base.entries, base.checkpoints, { notBefore: new Date(last.signedAt) }).ok, true);
  });

  it('reports records after the last checkpoint as unsigned', () => {
    const tail = chainEntries(base.entries.at(-1)!, [{ ...base.entries[0], eventId: 'evt-tail' }]);
    assert.deepEqual(codes(verify([...base.entries, ...tail])), ['unsigned_tail']);
    assert.equal(verifyTrail({ tenantId: TENANT, entries: [...base.entries, ...tail], checkpoints: base.checkpoints, publicKey: base.publicKey, allowUnsignedTail: true }).ok, true);
  });

  it('detects a forged checkpoint: signed by another key, or altered after signing', () => {
    const other = newSigningKey();
    for (let i = 0; i < base.checkpoints.length; i++) {
      const c = base.checkpoints[i];
      const covered = base.entries.slice(c.fromSeq - 1, c.toSeq);
      const forged = [...base.checkpoints];
      forged[i] = signCheckpoint(other.privateKey, base.checkpoints[i - 1] ?? null, covered, new Date(c.signedAt));
      assert.ok(codes(verify(base.entries, forged)).includes('bad_signature'), `forged ${i + 1}`);

      const altered = [...base.checkpoints];
      altered[i] = { ...c, signedAt: new Date(0).toISOString() };
      assert.ok(codes(verify(base.entries, altered)).includes('bad_signature'), `altered ${i + 1}`);
    }
  });

  it('detects swapped, removed and borrowed checkpoints', () => {
    for (let i = 0; i + 1 < base.checkpoints.length; i++) {
      const swapped = [...base.checkpoints];
      [swapped[i], swapped[i + 1]] = [swapped[i + 1], swapped[i]];
      assert.ok(codes(verify(base.entries, swapped)).includes('checkpoint_link'), `swapped ${i + 1}/${i + 2}`);
      assert.equal(verify(base.entries, base.checkpoints.filter((_, j) => j !== i)).ok, false, `removed ${i + 1}`);
    }
    // A genuine checkpoint of another tenant, signed by the same key.
    const otherTenant = fixtureTrail('tenant_b', N, EVERY, { publicKey: base.publicKey, privateKey: base.privateKey });
    const borrowed = [...base.checkpoints];
    borrowed[1] = otherTenant.checkpoints[1];
    assert.ok(codes(verify(base.entries, borrowed)).includes('wrong_tenant'));
    assert.equal(verify(otherTenant.entries, otherTenant.checkpoints).ok, false, "another tenant's whole trail is not this tenant's");
  });

  it('round-trips through the export format and still verifies', () => {
    const text = formatExport({
      header: { type: 'header', format: 'asc-audit-export/1', tenantId: TENANT, exportedAt: new Date().toISOString(), keyId: base.checkpoints[0].keyId, publicKeyPem: '' },
      entries: base.entries,
      checkpoints: base.checkpoints,
    });
    const parsed = parseExport(text);
    assert.equal(verify(parsed.entries, parsed.checkpoints).ok, true);
    assert.throws(() => parseExport(text.replace('"type":"record"', '"type":"recrd"')), /line 2/);
  });
});

describe('inclusion proofs', () => {
  it('prove every record against its checkpoint and reject a proof for an altered record or another key', () => {
    const other = newSigningKey();
    for (const entry of base.entries) {
      const checkpoint = base.checkpoints.find((c) => c.fromSeq <= entry.seq && entry.seq <= c.toSeq)!;
      const proof = buildInclusionProof(entry, checkpoint, base.entries.slice(checkpoint.fromSeq - 1, checkpoint.toSeq));
      assert.deepEqual(verifyInclusionProof(proof, base.publicKey), { ok: true, problems: [] });
      const altered = { ...proof, entry: { ...entry, fields: { ...entry.fields, requestedModel: 'other' } } };
      altered.entry.hash = hashEntry(altered.entry);
      assert.equal(verifyInclusionProof(altered, base.publicKey).ok, false);
      assert.equal(verifyInclusionProof(proof, other.publicKey).ok, false);
    }
  });
});
