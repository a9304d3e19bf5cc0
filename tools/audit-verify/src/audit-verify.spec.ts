import { strict as assert } from 'node:assert';
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuditEntry, chainEntries, JsonValue, EXPORT_FORMAT, formatExport, GENESIS_HASH, signCheckpoint, SignedCheckpoint } from '@asc/audit-proof';
import { runAuditVerify } from './audit-verify.command';

const TENANT = 'tenant_a';
const dir = mkdtempSync(join(tmpdir(), 'asc-audit-verify-'));
const key = generateKeyPairSync('ed25519');
const otherKey = generateKeyPairSync('ed25519');
const keyFile = join(dir, 'public.pem');
writeFileSync(keyFile, key.publicKey.export({ type: 'spki', format: 'pem' }));
const otherKeyFile = join(dir, 'other.json');
// The JSON of GET /admin/v1/audit/public-key is accepted as well as PEM.
writeFileSync(otherKeyFile, JSON.stringify({ algorithm: 'Ed25519', publicKeyPem: otherKey.publicKey.export({ type: 'spki', format: 'pem' }) }));

type Draft = Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'>;

function drafts(count: number): Draft[] {
  return Array.from({ length: count }, (_, i) => ({
    tenantId: TENANT,
    eventId: `evt-${i + 1}`,
    kind: i % 5 === 4 ? 'admin_change' : 'request',
    occurredAt: new Date(Date.UTC(2026, 10, 30, 12, 0, i)).toISOString(),
    requestId: `req-${i + 1}`,
    fields: (i % 5 === 4
      ? { actor: 'operator', action: 'deployment.update', targetType: 'deployment', targetId: 'dep_1', before: { weight: 1 }, after: { weight: 3 } }
      : { keyId: 'key_1', requestedModel: 'gpt-4o', deploymentId: 'dep_1', credentialId: 'cred_1', credentialVersion: 2, policyVersion: 4, routingVersion: 9 }) as { [key: string]: JsonValue },
  }));
}

/** What the audit service would export for these records: chained, with a checkpoint every `every`. */
function exportOf(items: Draft[], every = 4, signer: KeyObject = key.privateKey): { entries: AuditEntry[]; checkpoints: SignedCheckpoint[] } {
  const entries = chainEntries({ seq: 0, hash: GENESIS_HASH }, items);
  const checkpoints: SignedCheckpoint[] = [];
  for (let i = 0; i < entries.length; i += every) {
    checkpoints.push(signCheckpoint(signer, checkpoints.at(-1) ?? null, entries.slice(i, i + every), new Date(Date.UTC(2026, 10, 30, 13, checkpoints.length))));
  }
  return { entries, checkpoints };
}

let fileNo = 0;
function write(trail: { entries: AuditEntry[]; checkpoints: SignedCheckpoint[] }): string {
  const text = formatExport({
    header: { type: 'header', format: EXPORT_FORMAT, tenantId: TENANT, exportedAt: new Date().toISOString(), keyId: trail.checkpoints[0]?.keyId ?? '', publicKeyPem: '' },
    ...trail,
  });
  return writeText(text);
}
function writeText(text: string): string {
  const path = join(dir, `trail-${++fileNo}.jsonl`);
  writeFileSync(path, text);
  return path;
}

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runAuditVerify(argv, { out: (l) => lines.push(l), err: (l) => lines.push(l) });
  return { code, out: lines.join('\n') };
}
const verifyFile = (path: string, ...more: string[]) => cli('verify', '--public-key', keyFile, '--export', path, ...more);

const COUNT = 18;
const valid = exportOf(drafts(COUNT));
const validFile = write(valid);
const lines = () => [...valid.entries.map((e) => JSON.stringify({ type: 'record', ...e }))];

after(() => rmSync(dir, { recursive: true, force: true }));

describe('asc-audit-verify verify', () => {
  it('accepts an intact export', async () => {
    const r = await verifyFile(validFile);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`^VALID: tenant ${TENANT}, ${COUNT} records, 5 checkpoints, signed through record ${COUNT}`));
  });

  it('detects every tampering of the file, at every position (100 %)', async () => {
    const attempts: Array<[string, string]> = [];
    const header = (await import('node:fs')).readFileSync(validFile, 'utf8').split('\n')[0];
    const checkpointLines = valid.checkpoints.map((c) => JSON.stringify({ type: 'checkpoint', ...c }));
    const file = (records: string[], cps = checkpointLines) => writeText([header, ...records, ...cps, ''].join('\n'));

    for (let i = 0; i < COUNT; i++) {
      const edited = lines();
      edited[i] = edited[i].replace(/"credentialId":"cred_1"|"action":"deployment.update"/, (m) => m.replace(/cred_1|deployment.update/, 'forged'));
      attempts.push([`modified record ${i + 1}`, file(edited)]);
      // A consistent rewrite: the attacker re-hashes and re-links every later record.
      const rewritten = drafts(COUNT);
      rewritten[i] = { ...rewritten[i], occurredAt: new Date(0).toISOString() };
      attempts.push([`modified and re-chained record ${i + 1}`, file(exportOf(rewritten).entries.map((e) => JSON.stringify({ type: 'record', ...e })))]);
      attempts.push([`deleted record ${i + 1}`, file(lines().filter((_, j) => j !== i))]);
      const withoutOne = drafts(COUNT).filter((_, j) => j !== i);
      attempts.push([`deleted and re-chained record ${i + 1}`, file(exportOf(withoutOne).entries.map((e) => JSON.stringify({ type: 'record', ...e })))]);
      const inserted = lines();
      inserted.splice(i, 0, lines()[i].replace(/"eventId":"[^"]+"/, '"eventId":"evt-inserted"'));
      attempts.push([`inserted before record ${i + 1}`, file(inserted)]);
      if (i + 1 < COUNT) {
        const swapped = lines();
        [swapped[i], swapped[i + 1]] = [swapped[i + 1], swapped[i]];
        attempts.push([`swapped records ${i + 1} and ${i + 2}`, file(swapped)]);
      }
      attempts.push([`truncated after record ${i}`, file(lines().slice(0, i))]);
    }
    for (let c = 0; c < valid.checkpoints.length; c++) {
      const forged = [...valid.checkpoints];
      const cp = forged[c];
      forged[c] = signCheckpoint(otherKey.privateKey, valid.checkpoints[c - 1] ?? null, valid.entries.slice(cp.fromSeq - 1, cp.toSeq), new Date(cp.signedAt));
      attempts.push([`forged checkpoint ${c + 1}`, file(lines(), forged.map((x) => JSON.stringify({ type: 'checkpoint', ...x })))]);
      const altered = checkpointLines.map((l, j) => (j === c ? l.replace(/"signedAt":"[^"]+"/, '"signedAt":"2030-01-01T00:00:00.000Z"') : l));
      attempts.push([`altered checkpoint ${c + 1}`, file(lines(), altered)]);
      attempts.push([`removed checkpoint ${c + 1}`, file(lines(), checkpointLines.filter((_, j) => j !== c))]);
      if (c + 1 < valid.checkpoints.length) {
        const swapped = [...checkpointLines];
        [swapped[c], swapped[c + 1]] = [swapped[c + 1], swapped[c]];
        attempts.push([`swapped checkpoints ${c + 1} and ${c + 2}`, file(lines(), swapped)]);
      }
    }
    // A genuine, correctly signed checkpoint of another tenant put in place of one of ours.
    const other = exportOf(drafts(COUNT).map((d) => ({ ...d, tenantId: 'tenant_b' })));
    attempts.push(['checkpoint of another tenant', file(lines(), checkpointLines.map((l, j) => (j === 1 ? JSON.stringify({ type: 'checkpoint', ...other.checkpoints[1] }) : l)))]);

    const missed: string[] = [];
    for (const [what, path] of attempts) {
      const r = await verifyFile(path);
      if (r.code !== 1 || !r.out.startsWith('INVALID')) missed.push(`${what}: exit ${r.code} ${r.out}`);
    }
    assert.deepEqual(missed, [], `${attempts.length - missed.length}/${attempts.length} detected`);
    assert.ok(attempts.length > 120);
  });

  it('detects a tail cut off together with its last checkpoint when given the time of a newer checkpoint', async () => {
    const cut = { entries: valid.entries.slice(0, 12), checkpoints: valid.checkpoints.slice(0, 3) };
    const path = write(cut);
    assert.equal((await verifyFile(path)).code, 0, 'a clean cut at a checkpoint is invisible without outside knowledge');
    const r = await verifyFile(path, '--not-before', valid.checkpoints.at(-1)!.signedAt);
    assert.equal(r.code, 1);
    assert.match(r.out, /stale/);
  });

  it('rejects a trail verified with another key, and reports usage errors with status 2', async () => {
    assert.equal((await cli('verify', '--public-key', otherKeyFile, '--export', validFile)).code, 1);
    assert.equal((await cli('verify', '--export', validFile)).code, 2);
    assert.equal((await cli('verify', '--public-key', keyFile)).code, 2);
    assert.equal((await cli('verify', '--public-key', keyFile, '--export', validFile, '--tenant', 'tenant_b')).code, 2);
    const garbage = writeText('{"type":"header"}\n');
    const r = await verifyFile(garbage);
    assert.equal(r.code, 2);
    assert.match(r.out, /line 1/);
  });
});

describe('asc-audit-verify prove', () => {
  it('proves each record of an export and refuses a proof that was altered', async () => {
    for (const e of valid.entries) {
      const r = await cli('prove', '--public-key', keyFile, '--export', validFile, '--request', e.requestId, '--json');
      assert.equal(r.code, 0, r.out);
      const { proof } = JSON.parse(r.out) as { proof: { entry: AuditEntry } };
      const proofFile = join(dir, `proof-${e.seq}.json`);
      writeFileSync(proofFile, JSON.stringify(proof));
      assert.equal((await cli('prove', '--public-key', keyFile, '--proof', proofFile)).code, 0);
      proof.entry.requestId = 'req-someone-else';
      writeFileSync(proofFile, JSON.stringify(proof));
      assert.equal((await cli('prove', '--public-key', keyFile, '--proof', proofFile)).code, 1);
    }
    assert.equal((await cli('prove', '--public-key', keyFile, '--export', validFile, '--request', 'req-none')).code, 1);
  });
});
