import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import { parsePublicKey, publicKeyId, signCheckpoint, checkpointSignatureValid, chainEntries, GENESIS_HASH } from '@asc/audit-proof';
import { ConfigError } from '@asc/config';
import { loadAuditConfig } from './audit.config';
import { AuditSigningKey } from './signing-key';

const dir = mkdtempSync(join(tmpdir(), 'asc-audit-key-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('AuditSigningKey', () => {
  it('creates the key file once (mode 0600) and reads the same key on the next start', () => {
    const path = join(dir, 'nested', 'audit-signing.key');
    const first = AuditSigningKey.fromFile(path);
    if (process.platform !== 'win32') assert.equal(statSync(path).mode & 0o777, 0o600);
    const second = AuditSigningKey.fromFile(path);
    assert.equal(second.keyId, first.keyId);
    assert.equal(first.keyId, publicKeyId(parsePublicKey(first.publicKeyPem)));
    // What it signs verifies with the published public half.
    const entries = chainEntries({ seq: 0, hash: GENESIS_HASH }, [{ tenantId: 't', eventId: 'e', kind: 'request', occurredAt: new Date(0).toISOString(), requestId: 'r', fields: {} }]);
    assert.ok(checkpointSignatureValid(parsePublicKey(second.publicKeyPem), signCheckpoint(first.privateKey, null, entries)));
  });

  it('never shows the private key when logged or serialised', () => {
    const key = AuditSigningKey.fromFile(join(dir, 'shown.key'));
    const pem = readFileSync(join(dir, 'shown.key'), 'utf8');
    const body = pem.split('\n')[1];
    assert.doesNotMatch(inspect(key, { depth: 5, showHidden: true }) + JSON.stringify(key), new RegExp(body.replace(/[+/]/g, '.')));
  });

  it('accepts the key from the environment as PEM or base64 of the PEM, and refuses anything else', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.equal(AuditSigningKey.fromPem(pem).keyId, AuditSigningKey.fromPem(Buffer.from(pem).toString('base64')).keyId);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(() => AuditSigningKey.fromPem(rsa), /Ed25519/);
    assert.throws(() => AuditSigningKey.fromPem('not a key'), /AUDIT_SIGNING_KEY/);
  });
});

describe('loadAuditConfig', () => {
  const base = { AUDIT_DATABASE_URL: 'postgres://x@127.0.0.1/db', ASC_ADMIN_TOKEN: 't' };
  it('requires exactly one source of the signing key, naming both variables', () => {
    assert.throws(() => loadAuditConfig(base), (err: unknown) => err instanceof ConfigError && /AUDIT_SIGNING_KEY_FILE/.test(err.message) && /AUDIT_SIGNING_KEY /.test(err.message));
    assert.throws(() => loadAuditConfig({ ...base, AUDIT_SIGNING_KEY_FILE: '/k', AUDIT_SIGNING_KEY: 'x' }), ConfigError);
    const config = loadAuditConfig({ ...base, AUDIT_SIGNING_KEY_FILE: '/k' });
    assert.equal(config.AUDIT_CHECKPOINT_EVERY_RECORDS, 1000);
    assert.equal(config.AUDIT_CHECKPOINT_INTERVAL_MS, 60_000);
  });
});
