import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecretsError } from '../secrets.error';
import { KeyEncryptionKey } from './key-encryption-key.port';
import { KeyManagement } from './key-management.port';
import { isBase64Key, LocalKeyEncryptionKey } from './local-key-encryption-key.adapter';

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{1,62}$/;

/**
 * Local KMS: the platform KEK (and previous ones during a rotation) in memory; tenants'
 * own KEKs as files `<dir>/<tenant>.key` (mode 0600) — a stand-in for a key the tenant
 * controls in its own KMS. Revoking overwrites and deletes the file.
 */
export class LocalKeyManagement implements KeyManagement {
  private readonly platform: Map<string, KeyEncryptionKey>;

  constructor(
    readonly current: KeyEncryptionKey,
    previous: KeyEncryptionKey[] = [],
    private readonly tenantKekDir?: string,
  ) {
    this.platform = new Map([current, ...previous].map((k) => [k.id, k]));
  }

  platformKek(kekId: string): KeyEncryptionKey | undefined {
    return this.platform.get(kekId);
  }

  async tenantKek(tenantId: string): Promise<KeyEncryptionKey | undefined> {
    const file = this.fileOf(tenantId, false);
    if (!file || !existsSync(file)) return undefined;
    const content = readFileSync(file, 'utf8');
    if (!isBase64Key(content)) throw new SecretsError('kek_invalid', `the tenant key file of ${tenantId} does not hold 32 bytes in base64`, 500);
    return LocalKeyEncryptionKey.fromBytes(Buffer.from(content.trim(), 'base64'), `byok-${tenantId}`);
  }

  async setTenantKek(tenantId: string, material: string): Promise<KeyEncryptionKey> {
    if (!isBase64Key(material)) throw new SecretsError('invalid_request', 'key must be 32 random bytes, base64-encoded', 400, 'key');
    const file = this.fileOf(tenantId, true) as string;
    writeFileSync(file, `${material.trim()}\n`, { mode: 0o600 });
    return LocalKeyEncryptionKey.fromBytes(Buffer.from(material.trim(), 'base64'), `byok-${tenantId}`);
  }

  async revokeTenantKek(tenantId: string): Promise<void> {
    const file = this.fileOf(tenantId, false);
    if (!file || !existsSync(file)) throw new SecretsError('tenant_kek_not_found', `tenant ${tenantId} has no key-encryption key of its own`, 404);
    writeFileSync(file, '0'.repeat(64));
    rmSync(file, { force: true });
  }

  private fileOf(tenantId: string, forWrite: boolean): string | undefined {
    if (!TENANT_ID.test(tenantId)) throw new SecretsError('invalid_request', 'tenant id must be 2-63 chars of a-z, 0-9, "-" or "_"', 400, 'tenantId');
    if (!this.tenantKekDir) {
      if (forWrite) throw new SecretsError('byok_disabled', 'set SECRETS_TENANT_KEK_DIR to let tenants bring their own key-encryption key', 400);
      return undefined;
    }
    mkdirSync(this.tenantKekDir, { recursive: true, mode: 0o700 });
    return join(this.tenantKekDir, `${tenantId}.key`);
  }
}
