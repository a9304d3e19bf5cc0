import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretsError } from '../secrets.error';
import { KeyEncryptionKey, WrappedKey } from './key-encryption-key.port';

const DEK_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A secret sealed under a fresh data key (DEK), the DEK wrapped by the KEK. */
export interface SealedSecret {
  dek: WrappedKey;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** Binds a ciphertext and its data key to one credential version, so rows cannot be swapped. */
export function credentialAad(credentialId: string, version: number): string {
  return `${credentialId}:${version}`;
}

/** Envelope encryption: AES-256-GCM under a fresh random DEK, the DEK wrapped by the KEK, both with `aad`. */
export async function sealSecret(kek: KeyEncryptionKey, plaintext: string, aad: string): Promise<SealedSecret> {
  const dek = randomBytes(DEK_BYTES);
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', dek, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { dek: await kek.wrap(dek, aad), iv, tag: cipher.getAuthTag(), ciphertext };
  } finally {
    dek.fill(0);
  }
}

/** Opens a sealed secret; any tampering (ciphertext, tag, IV, wrapped key, AAD, KEK) fails. */
export async function openSecret(kek: KeyEncryptionKey, sealed: SealedSecret, aad: string): Promise<string> {
  const dek = await kek.unwrap(sealed.dek, aad);
  try {
    const decipher = createDecipheriv('aes-256-gcm', dek, sealed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretsError('decryption_failed', 'a credential failed authentication', 500);
  } finally {
    dek.fill(0);
  }
}
