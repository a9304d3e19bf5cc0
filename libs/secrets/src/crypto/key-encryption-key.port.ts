/** A data key wrapped by a key-encryption key, as stored next to the ciphertext it protects. */
export interface WrappedKey {
  /** Which KEK wrapped it, so a rotated or wrong KEK is detected before decrypting. */
  kekId: string;
  wrappedDek: Buffer;
  /** AES-GCM nonce and tag of the wrap; a remote KMS adapter may keep them inside `wrappedDek` and leave these empty. */
  iv: Buffer;
  tag: Buffer;
}

/**
 * The key-encryption key (KEK) port. The local adapter holds the key in memory; a Vault
 * transit or cloud KMS adapter implements the same port without the key ever leaving it.
 * `aad` binds the wrapped key to its row: unwrapping under another row's AAD fails.
 */
export interface KeyEncryptionKey {
  readonly id: string;
  wrap(dek: Buffer, aad: string): Promise<WrappedKey>;
  unwrap(wrapped: WrappedKey, aad: string): Promise<Buffer>;
}

export const KEY_ENCRYPTION_KEY = Symbol('KEY_ENCRYPTION_KEY');
