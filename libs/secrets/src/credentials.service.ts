import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource, QueryFailedError, Repository } from 'typeorm';
import { secretsV1 } from '@asc/contracts';
import { ALL_TENANTS, CONFIG_CHANGE_PUBLISHER, ConfigChangedV1, EventPublisher, publishConfigChange } from '@asc/events';
import { credentialAad, openSecret, SealedSecret, sealSecret } from './crypto/envelope';
import { LEASE_LISTENER, SECRETS_DATA_SOURCE, SECRETS_OPTIONS } from './secrets.tokens';
import { TenantKeysService } from './tenant-keys.service';
import { CredentialEntity, CredentialProvider } from './entities/credential.entity';
import { CredentialVersionEntity } from './entities/credential-version.entity';
import { SecretsError } from './secrets.error';

export { SECRETS_DATA_SOURCE, SECRETS_OPTIONS };

export interface SecretsOptions {
  /** Lifetime of a lease, and of this service's decrypted copy of a credential. */
  leaseTtlMs: number;
}

/** A credential as the admin API shows it: metadata only, never the secret. */
export interface CredentialView {
  id: string;
  tenantId: string | null;
  name: string;
  provider: CredentialProvider;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** A lease as recorded (and as the audit hook receives it): never the secret. */
export interface LeaseRecord {
  id: string;
  credentialId: string;
  version: number;
  tenantId: string;
  /** The caller's service identity (from its mTLS certificate), e.g. "ingress". */
  caller: string;
  purpose: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}

/** Receives every lease granted and revoked, e.g. to append it to the audit trail. */
export type LeaseListener = (event: { kind: 'granted' | 'revoked'; lease: LeaseRecord }) => void;

export interface CreateCredentialInput {
  name: string;
  provider: CredentialProvider;
  secret: string;
  tenantId?: string | null;
}

interface Decrypted {
  tenantId: string | null;
  version: number;
  secret: string;
  expiresAt: number;
}

interface CurrentVersionRow {
  tenant_id: string | null;
  version: number;
  kek_id: string;
  wrapped_dek: Buffer;
  dek_iv: Buffer;
  dek_tag: Buffer;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

const CACHE_LIMIT = 10_000;
const newId = (prefix: string) => `${prefix}_${randomBytes(10).toString('hex')}`;
const notFound = (credentialId: string) => new SecretsError('credential_not_found', `credential ${credentialId} not found`, 404);

/**
 * Provider credentials, envelope-encrypted at rest, and short leases of their current
 * version. Decrypted values are kept in a bounded in-memory map until their lease TTL and
 * dropped when the credential rotates. The owning tenant is checked on every lease, cached
 * or not, so a credential id alone never reveals another tenant's secret.
 */
@Injectable()
export class CredentialsService {
  private readonly logger = new Logger('CredentialsService');
  private readonly credentials: Repository<CredentialEntity>;
  private readonly plaintexts = new Map<string, Decrypted>();
  /** Bumped around every rotation, so a lease that raced it does not cache the old version. */
  private generation = 0;

  constructor(
    @Inject(SECRETS_DATA_SOURCE) private readonly dataSource: DataSource,
    private readonly tenantKeys: TenantKeysService,
    @Inject(SECRETS_OPTIONS) private readonly options: SecretsOptions,
    @Inject(CONFIG_CHANGE_PUBLISHER) private readonly events: EventPublisher | null,
    @Inject(LEASE_LISTENER) private readonly leaseListener: LeaseListener | null,
  ) {
    this.credentials = dataSource.getRepository(CredentialEntity);
  }

  async create(input: CreateCredentialInput): Promise<CredentialView> {
    const tenantId = input.tenantId ?? null;
    await this.assertNameFree(tenantId, input.name);
    const id = newId('cred');
    const sealed = await sealSecret(await this.tenantKeys.dataKey(tenantId ?? ''), input.secret, credentialAad(id, 1));
    try {
      const saved = await this.dataSource.transaction(async (manager) => {
        const credential = await manager
          .getRepository(CredentialEntity)
          .save(this.credentials.create({ id, tenantId, name: input.name, provider: input.provider, currentVersion: 1 }));
        await manager.getRepository(CredentialVersionEntity).insert(versionRow(id, 1, sealed));
        return credential;
      });
      return toView(saved);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(input.name);
      throw err;
    }
  }

  /** Stores `secret` as the next version and retires the current one; leases from now on get the new one. */
  async rotate(credentialId: string, secret: string): Promise<CredentialView> {
    this.generation++;
    try {
      const saved = await this.dataSource.transaction(async (manager) => {
        const credentials = manager.getRepository(CredentialEntity);
        const versions = manager.getRepository(CredentialVersionEntity);
        const credential = await credentials.findOne({ where: { id: credentialId }, lock: { mode: 'pessimistic_write' } });
        if (!credential) throw notFound(credentialId);
        const version = credential.currentVersion + 1;
        const sealed = await sealSecret(await this.tenantKeys.dataKey(credential.tenantId ?? ''), secret, credentialAad(credentialId, version));
        await versions.update({ credentialId, state: 'active' }, { state: 'retired', retiredAt: new Date() });
        await versions.insert(versionRow(credentialId, version, sealed));
        credential.currentVersion = version;
        return credentials.save(credential);
      });
      publishConfigChange(this.events, 'asc-secrets', { tenantId: saved.tenantId ?? ALL_TENANTS, kind: 'credential', entityId: credentialId });
      return toView(saved);
    } finally {
      this.generation++;
      this.plaintexts.delete(credentialId);
    }
  }

  /**
   * Deletes a credential and every version of its ciphertext; leases already handed out
   * are revoked and ingress is told to drop its copy.
   */
  async delete(credentialId: string): Promise<void> {
    this.generation++;
    try {
      const owner = await this.dataSource.transaction(async (manager) => {
        const credential = await manager.getRepository(CredentialEntity).findOne({ where: { id: credentialId }, lock: { mode: 'pessimistic_write' } });
        if (!credential) throw notFound(credentialId);
        await manager.getRepository(CredentialVersionEntity).delete({ credentialId });
        await manager.getRepository(CredentialEntity).delete({ id: credentialId });
        await manager.query(`UPDATE secrets.leases SET revoked_at = now() WHERE credential_id = $1 AND revoked_at IS NULL`, [credentialId]);
        return credential.tenantId;
      });
      publishConfigChange(this.events, 'asc-secrets', { tenantId: owner ?? ALL_TENANTS, kind: 'credential', entityId: credentialId });
    } finally {
      this.generation++;
      this.plaintexts.delete(credentialId);
    }
  }

  /** Leases of one credential or tenant, newest first (metadata only). */
  async listLeases(filter: { credentialId?: string; tenantId?: string; limit?: number }): Promise<LeaseRecord[]> {
    const rows: LeaseRow[] = await this.dataSource.query(
      `SELECT * FROM secrets.leases
        WHERE ($1::text IS NULL OR credential_id = $1) AND ($2::text IS NULL OR tenant_id = $2)
        ORDER BY created_at DESC, id LIMIT $3`,
      [filter.credentialId ?? null, filter.tenantId ?? null, Math.min(filter.limit ?? 100, 1000)],
    );
    return rows.map(toLease);
  }

  /** Revokes a lease: ingress drops its copy (via the change announcement) and leases anew. */
  async revokeLease(leaseId: string): Promise<LeaseRecord> {
    // TypeORM answers an UPDATE … RETURNING with [rows, affected].
    const [rows]: [LeaseRow[], number] = await this.dataSource.query(
      `UPDATE secrets.leases SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *`,
      [leaseId],
    );
    if (!rows[0]) throw new SecretsError('lease_not_found', `lease ${leaseId} not found`, 404);
    const lease = toLease(rows[0]);
    publishConfigChange(this.events, 'asc-secrets', { tenantId: lease.tenantId, kind: 'credential', entityId: lease.credentialId });
    this.leaseListener?.({ kind: 'revoked', lease });
    return lease;
  }

  /** Drops every decrypted copy of a tenant's credentials (its KEK was revoked). */
  async forgetTenant(tenantId: string): Promise<void> {
    this.generation++;
    for (const [id, entry] of this.plaintexts) if (entry.tenantId === tenantId) this.plaintexts.delete(id);
    for (const c of await this.list({ tenantId })) publishConfigChange(this.events, 'asc-secrets', { tenantId, kind: 'credential', entityId: c.id });
  }

  /** Applies a change announced by another replica of this service. */
  invalidate(change: ConfigChangedV1): void {
    if (change.kind !== 'credential') return;
    this.generation++;
    this.plaintexts.delete(change.entityId);
  }

  /** Every credential, or only those owned by one tenant (platform ones have no tenant). */
  async list(filter: { tenantId?: string } = {}): Promise<CredentialView[]> {
    const rows = await this.credentials.find({
      where: filter.tenantId === undefined ? {} : { tenantId: filter.tenantId },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
    return rows.map(toView);
  }

  async get(credentialId: string): Promise<CredentialView> {
    const found = await this.credentials.findOneBy({ id: credentialId });
    if (!found) throw notFound(credentialId);
    return toView(found);
  }

  /**
   * The current version of a credential for `tenantId`. A credential of another tenant is
   * reported exactly like a missing one: its existence is never revealed across tenants.
   */
  async lease(request: secretsV1.LeaseRequest, caller = 'unauthenticated'): Promise<secretsV1.LeaseResponse> {
    if (!request.tenantId) throw new SecretsError('invalid_request', 'tenant_id is required', 400, 'tenant_id');
    if (!request.credentialId) throw new SecretsError('invalid_request', 'credential_id is required', 400, 'credential_id');
    const now = Date.now();
    let entry = this.plaintexts.get(request.credentialId);
    if (!entry || entry.expiresAt <= now) {
      entry = await this.decryptCurrent(request.credentialId, request.tenantId, now);
    }
    if (entry.tenantId !== null && entry.tenantId !== request.tenantId) throw notFound(request.credentialId);
    const leaseId = `lease_${randomUUID()}`;
    const purpose = (request.purpose || 'unspecified').slice(0, 200);
    // Recorded before the secret leaves: no lease exists that nobody knows about.
    const rows: LeaseRow[] = await this.dataSource.query(
      `INSERT INTO secrets.leases (id, credential_id, version, tenant_id, caller, purpose, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [leaseId, request.credentialId, entry.version, request.tenantId, caller, purpose, new Date(now + this.options.leaseTtlMs)],
    );
    this.logger.debug(`lease ${leaseId}: ${request.credentialId} v${entry.version} for tenant ${request.tenantId} to ${caller} (${purpose})`);
    this.leaseListener?.({ kind: 'granted', lease: toLease(rows[0]) });
    return {
      leaseId,
      credentialId: request.credentialId,
      version: entry.version,
      secret: entry.secret,
      expiresAtMs: now + this.options.leaseTtlMs,
    };
  }

  private async decryptCurrent(credentialId: string, tenantId: string, now: number): Promise<Decrypted> {
    const generation = this.generation;
    const rows: CurrentVersionRow[] = await this.dataSource.query(
      `SELECT c.tenant_id, v.version, v.kek_id, v.wrapped_dek, v.dek_iv, v.dek_tag, v.iv, v.tag, v.ciphertext
         FROM secrets.credentials c
         JOIN secrets.credential_versions v ON v.credential_id = c.id AND v.version = c.current_version
        WHERE c.id = $1`,
      [credentialId],
    );
    const row = rows[0];
    // Checked before decrypting: another tenant's credential is never even opened.
    if (!row || (row.tenant_id !== null && row.tenant_id !== tenantId)) throw notFound(credentialId);
    const sealed: SealedSecret = {
      dek: { kekId: row.kek_id, wrappedDek: row.wrapped_dek, iv: row.dek_iv, tag: row.dek_tag },
      iv: row.iv,
      tag: row.tag,
      ciphertext: row.ciphertext,
    };
    // Versions written before per-tenant data keys keep a KEK-wrapped data key until re-wrapped.
    const key = row.kek_id.startsWith('tdk:') ? await this.tenantKeys.dataKey(row.tenant_id ?? '') : this.tenantKeys.legacyKek(row.kek_id);
    const secret = await openSecret(key, sealed, credentialAad(credentialId, row.version));
    const entry: Decrypted = { tenantId: row.tenant_id, version: row.version, secret, expiresAt: now + this.options.leaseTtlMs };
    if (generation === this.generation) {
      if (this.plaintexts.size >= CACHE_LIMIT) this.plaintexts.clear();
      this.plaintexts.set(credentialId, entry);
    }
    return entry;
  }

  private async assertNameFree(tenantId: string | null, name: string): Promise<void> {
    const taken = await this.credentials
      .createQueryBuilder('c')
      .where(`coalesce(c.tenant_id, '') = :owner AND c.name = :name`, { owner: tenantId ?? '', name })
      .getExists();
    if (taken) throw nameTaken(name);
  }
}

function nameTaken(name: string): SecretsError {
  return new SecretsError('credential_exists', `a credential named ${name} already exists for this owner`, 409, 'name');
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof QueryFailedError && (err.driverError as { code?: unknown } | undefined)?.code === '23505';
}

function versionRow(credentialId: string, version: number, sealed: SealedSecret): Partial<CredentialVersionEntity> {
  return {
    credentialId,
    version,
    kekId: sealed.dek.kekId,
    wrappedDek: sealed.dek.wrappedDek,
    dekIv: sealed.dek.iv,
    dekTag: sealed.dek.tag,
    iv: sealed.iv,
    tag: sealed.tag,
    ciphertext: sealed.ciphertext,
    state: 'active',
    retiredAt: null,
  };
}

function toView(entity: CredentialEntity): CredentialView {
  return {
    id: entity.id,
    tenantId: entity.tenantId,
    name: entity.name,
    provider: entity.provider,
    version: entity.currentVersion,
    createdAt: entity.createdAt,
    updatedAt: entity.updatedAt,
  };
}

interface LeaseRow {
  id: string;
  credential_id: string;
  version: number;
  tenant_id: string;
  caller: string;
  purpose: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

function toLease(row: LeaseRow): LeaseRecord {
  return {
    id: row.id,
    credentialId: row.credential_id,
    version: row.version,
    tenantId: row.tenant_id,
    caller: row.caller,
    purpose: row.purpose,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}
