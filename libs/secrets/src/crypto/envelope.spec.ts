import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import { SecretsError } from '../secrets.error';
import { credentialAad, openSecret, SealedSecret, sealSecret } from './envelope';
import { LocalKeyEncryptionKey } from './local-key-encryption-key.adapter';

const SECRET = 'sk-live-0123456789abcdefghijklmnop-ünïcødé';
const newKek = () => LocalKeyEncryptionKey.fromBase64(randomBytes(32).toString('base64'));
const flipBit = (buf: Buffer, index = 0) => {
  const copy = Buffer.from(buf);
  copy[index] ^= 0x01;
  return copy;
};
const failsAuthentication = (err: unknown) =>
  err instanceof SecretsError && ['decryption_failed', 'kek_mismatch'].includes(err.code) && !err.message.includes(SECRET);

describe('envelope encryption', () => {
  const kek = newKek();
  const aad = credentialAad('cred_a', 1);

  it('round-trips a secret and never stores it in clear', async () => {
    const sealed = await sealSecret(kek, SECRET, aad);
    assert.equal(await openSecret(kek, sealed, aad), SECRET);
    assert.equal(sealed.iv.length, 12);
    assert.equal(sealed.tag.length, 16);
    assert.equal(sealed.dek.kekId, kek.id);
    assert.equal(sealed.dek.wrappedDek.length, 32);
    const stored = Buffer.concat([sealed.ciphertext, sealed.dek.wrappedDek]);
    assert.equal(stored.includes(Buffer.from('sk-live')), false);
  });

  it('uses a fresh data key and IV for every seal', async () => {
    const a = await sealSecret(kek, SECRET, aad);
    const b = await sealSecret(kek, SECRET, aad);
    assert.notDeepEqual(a.ciphertext, b.ciphertext);
    assert.notDeepEqual(a.iv, b.iv);
    assert.notDeepEqual(a.dek.wrappedDek, b.dek.wrappedDek);
  });

  it('rejects a tampered ciphertext, tag, IV or wrapped data key', async () => {
    const sealed = await sealSecret(kek, SECRET, aad);
    const tampered: SealedSecret[] = [
      { ...sealed, ciphertext: flipBit(sealed.ciphertext, 3) },
      { ...sealed, tag: flipBit(sealed.tag) },
      { ...sealed, tag: sealed.tag.subarray(0, 8) },
      { ...sealed, iv: flipBit(sealed.iv) },
      { ...sealed, dek: { ...sealed.dek, wrappedDek: flipBit(sealed.dek.wrappedDek) } },
      { ...sealed, dek: { ...sealed.dek, tag: flipBit(sealed.dek.tag) } },
      { ...sealed, dek: { ...sealed.dek, iv: flipBit(sealed.dek.iv) } },
    ];
    for (const variant of tampered) await assert.rejects(openSecret(kek, variant, aad), failsAuthentication);
  });

  it('binds a ciphertext to its credential and version (no swapping rows)', async () => {
    const a = await sealSecret(kek, 'secret-of-a', credentialAad('cred_a', 1));
    const b = await sealSecret(kek, 'secret-of-b', credentialAad('cred_b', 1));
    // A's row moved under B's id, or replayed as another version of A.
    await assert.rejects(openSecret(kek, a, credentialAad('cred_b', 1)), failsAuthentication);
    await assert.rejects(openSecret(kek, a, credentialAad('cred_a', 2)), failsAuthentication);
    // B's data key grafted onto A's ciphertext, and the reverse.
    await assert.rejects(openSecret(kek, { ...a, dek: b.dek }, credentialAad('cred_a', 1)), failsAuthentication);
    await assert.rejects(openSecret(kek, { ...b, dek: a.dek }, credentialAad('cred_b', 1)), failsAuthentication);
    assert.equal(await openSecret(kek, b, credentialAad('cred_b', 1)), 'secret-of-b');
  });

  it('fails under the wrong KEK, even when the row claims that KEK', async () => {
    const sealed = await sealSecret(kek, SECRET, aad);
    const other = newKek();
    assert.notEqual(other.id, kek.id);
    await assert.rejects(openSecret(other, sealed, aad), (err: unknown) => err instanceof SecretsError && err.code === 'kek_mismatch');
    const relabelled = { ...sealed, dek: { ...sealed.dek, kekId: other.id } };
    await assert.rejects(openSecret(other, relabelled, aad), (err: unknown) => err instanceof SecretsError && err.code === 'decryption_failed');
  });

  it('never shows the KEK when the adapter is logged or serialised', () => {
    const encoded = randomBytes(32).toString('base64');
    const local = LocalKeyEncryptionKey.fromBase64(encoded);
    assert.ok(!inspect(local, { showHidden: true, depth: 5 }).includes(encoded));
    assert.ok(!JSON.stringify(local).includes(encoded));
    assert.equal(LocalKeyEncryptionKey.fromBase64(encoded).id, local.id);
  });

  it('refuses a KEK that is not exactly 32 bytes of base64', () => {
    for (const bad of ['', 'c2hvcnQ=', randomBytes(16).toString('base64'), randomBytes(33).toString('base64'), `${randomBytes(32).toString('hex')}`]) {
      assert.throws(() => LocalKeyEncryptionKey.fromBase64(bad), (err: unknown) => err instanceof SecretsError && err.code === 'kek_invalid');
    }
  });
});

describe('local KEK file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'asc-kek-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is created with mode 0600 holding 32 random bytes in base64, then reused', async () => {
    const path = join(dir, 'nested', 'kek.key');
    const first = LocalKeyEncryptionKey.fromFile(path);
    if (process.platform !== 'win32') assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64').length, 32);
    const sealed = await sealSecret(first, SECRET, credentialAad('cred_f', 1));

    const second = LocalKeyEncryptionKey.fromFile(path);
    assert.equal(second.id, first.id);
    assert.equal(await openSecret(second, sealed, credentialAad('cred_f', 1)), SECRET);

    const elsewhere = LocalKeyEncryptionKey.fromFile(join(dir, 'other.key'));
    assert.notEqual(elsewhere.id, first.id);
  });

  it('refuses a corrupt key file without echoing its content', () => {
    const path = join(dir, 'corrupt.key');
    writeFileSync(path, 'not-a-key-but-private', { mode: 0o600 });
    assert.throws(
      () => LocalKeyEncryptionKey.fromFile(path),
      (err: unknown) => err instanceof SecretsError && err.code === 'kek_invalid' && !err.message.includes('not-a-key'),
    );
  });
});
