import { KeyEncryptionKey } from './key-encryption-key.port';

/**
 * The KMS port. Tenant data keys are wrapped by a key-encryption key (KEK) behind it: the
 * platform KEK (current, plus previous ones still held while a rotation re-wraps) or a
 * tenant's own KEK (BYOK). The local adapter keeps keys in files and memory; a Vault
 * transit or cloud KMS adapter implements the same methods with keys that never leave it
 * (`wrap`/`unwrap` become KMS calls, `revokeTenantKek` becomes the tenant revoking a grant).
 */
export interface KeyManagement {
  /** The platform KEK new data keys are wrapped with, and rotation re-wraps to. */
  readonly current: KeyEncryptionKey;
  /** A platform KEK by id (the current one or a previous one still configured). */
  platformKek(kekId: string): KeyEncryptionKey | undefined;
  /** The tenant's own KEK, or undefined when it has none or revoked it. */
  tenantKek(tenantId: string): Promise<KeyEncryptionKey | undefined>;
  /** Registers a tenant's own KEK (local adapter: 32 bytes in base64; a cloud adapter: a key reference). */
  setTenantKek(tenantId: string, material: string): Promise<KeyEncryptionKey>;
  /** After this, what the tenant's KEK wrapped can be unwrapped by nobody (crypto-shredding). */
  revokeTenantKek(tenantId: string): Promise<void>;
}

export const KEY_MANAGEMENT = Symbol('KEY_MANAGEMENT');
