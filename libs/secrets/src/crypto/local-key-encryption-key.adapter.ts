import { Logger } from '@nestjs/common';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SecretsError } from '../secrets.error';
import { KeyEncryptionKey, WrappedKey } from './key-encryption-key.port';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** True for the canonical base64 of exactly 32 bytes (surrounding whitespace ignored). */
export function isBase64Key(value: string): boolean {
  const trimmed = value.trim();
  const decoded = Buffer.from(trimmed, 'base64');
  return decoded.length === KEY_BYTES && decoded.toString('base64') === trimmed;
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * A KEK held in this process: from the SECRETS_KEK variable (production, injected from a
 * secret store) or from a local key file created on first start (the embedded default).
 * AES-256-GCM with a fresh nonce per wrap.
 */
export class LocalKeyEncryptionKey implements KeyEncryptionKey {
  readonly id: string;
  // An ES private field: not enumerable, not shown by util.inspect or JSON.stringify.
  readonly #key: Buffer;

  private constructor(key: Buffer, idPrefix = 'local') {
    if (key.length !== KEY_BYTES) throw new SecretsError('kek_invalid', `a key-encryption key must be ${KEY_BYTES} bytes`, 500);
    this.#key = Buffer.from(key);
    // A fingerprint, not the key: identifies which KEK wrapped a row.
    this.id = `${idPrefix}:${createHash('sha256').update('asc-kek-id\u0000').update(key).digest('hex').slice(0, 16)}`;
  }

  /** A key held in memory from raw bytes: tenant data keys (`tdk`) and tenants' own KEKs (`byok`). */
  static fromBytes(key: Buffer, idPrefix: string): LocalKeyEncryptionKey {
    return new LocalKeyEncryptionKey(key, idPrefix);
  }

  static fromBase64(encoded: string): LocalKeyEncryptionKey {
    if (!isBase64Key(encoded)) throw new SecretsError('kek_invalid', 'the key-encryption key must be 32 bytes, base64-encoded', 500);
    return new LocalKeyEncryptionKey(Buffer.from(encoded.trim(), 'base64'));
  }

  /** Reads the key file, creating it (mode 0600, 32 random bytes in base64) if it does not exist. */
  static fromFile(path: string): LocalKeyEncryptionKey {
    try {
      return LocalKeyEncryptionKey.readFile(path);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      // 'wx': never overwrite a key another process created meanwhile (that would orphan its data).
      writeFileSync(path, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    return LocalKeyEncryptionKey.readFile(path);
  }

  private static readFile(path: string): LocalKeyEncryptionKey {
    const content = readFileSync(path, 'utf8');
    if (!isBase64Key(content)) {
      throw new SecretsError('kek_invalid', `the key file ${path} does not hold 32 bytes in base64`, 500);
    }
    if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
      new Logger('LocalKeyEncryptionKey').warn(`the key file ${path} is readable by other users: chmod 600 it`);
    }
    return new LocalKeyEncryptionKey(Buffer.from(content.trim(), 'base64'));
  }

  async wrap(dek: Buffer, aad: string): Promise<WrappedKey> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const wrappedDek = Buffer.concat([cipher.update(dek), cipher.final()]);
    return { kekId: this.id, wrappedDek, iv, tag: cipher.getAuthTag() };
  }

  async unwrap(wrapped: WrappedKey, aad: string): Promise<Buffer> {
    if (wrapped.kekId !== this.id) {
      throw new SecretsError('kek_mismatch', `data key was wrapped by ${wrapped.kekId}, this service holds ${this.id}`, 500);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, wrapped.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(wrapped.tag);
      return Buffer.concat([decipher.update(wrapped.wrappedDek), decipher.final()]);
    } catch {
      throw new SecretsError('decryption_failed', 'a data key failed authentication', 500);
    }
  }
}
