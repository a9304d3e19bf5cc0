import { generateKeyPairSync, KeyObject, createPublicKey } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Logger } from '@nestjs/common';
import { parsePrivateKey, publicKeyId } from '@asc/audit-proof';

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * The Ed25519 key that signs checkpoints. Its public half is published (admin API) so an
 * auditor verifies offline; every audit replica must hold the same key.
 */
export class AuditSigningKey {
  readonly keyId: string;
  readonly publicKeyPem: string;
  // An ES private field: not enumerable, never shown by util.inspect or JSON.stringify.
  readonly #privateKey: KeyObject;

  private constructor(privateKey: KeyObject) {
    this.#privateKey = privateKey;
    const publicKey = createPublicKey(privateKey);
    this.keyId = publicKeyId(publicKey);
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  get privateKey(): KeyObject {
    return this.#privateKey;
  }

  /** From PEM (PKCS#8), or base64 of that PEM for environments that cannot hold newlines. */
  static fromPem(value: string): AuditSigningKey {
    const pem = value.includes('-----BEGIN') ? value : Buffer.from(value.trim(), 'base64').toString('utf8');
    try {
      return new AuditSigningKey(parsePrivateKey(pem));
    } catch {
      throw new Error('AUDIT_SIGNING_KEY must be an Ed25519 private key in PKCS#8 PEM (or base64 of it)');
    }
  }

  /** Reads the key file, creating it (mode 0600) on first start: the embedded default, like the secrets KEK file. */
  static fromFile(path: string): AuditSigningKey {
    try {
      return AuditSigningKey.readFile(path);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    try {
      // 'wx': never overwrite a key another process created meanwhile (its checkpoints would no longer verify).
      writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    return AuditSigningKey.readFile(path);
  }

  private static readFile(path: string): AuditSigningKey {
    const content = readFileSync(path, 'utf8');
    let key: KeyObject;
    try {
      key = parsePrivateKey(content);
    } catch {
      throw new Error(`the audit signing key file ${path} does not hold an Ed25519 private key (PKCS#8 PEM)`);
    }
    if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
      new Logger('AuditSigningKey').warn(`the key file ${path} is readable by other users: chmod 600 it`);
    }
    return new AuditSigningKey(key);
  }
}
