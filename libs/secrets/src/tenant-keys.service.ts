import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { KeyEncryptionKey, WrappedKey } from './crypto/key-encryption-key.port';
import { KEY_MANAGEMENT, KeyManagement } from './crypto/key-management.port';
import { LocalKeyEncryptionKey } from './crypto/local-key-encryption-key.adapter';
import { SECRETS_DATA_SOURCE } from './secrets.tokens';
import { SecretsError } from './secrets.error';

interface TenantKeyRow {
  owner: string;
  kek_id: string;
  byok: boolean;
  wrapped_key: Buffer;
  iv: Buffer;
  tag: Buffer;
}

/** Unwrapped data keys are re-checked against the KMS this often (a revoked KEK stops working within it). */
const DATA_KEY_CACHE_MS = 60_000;
const aadOf = (owner: string) => `tenant-data-key:${owner}`;

export interface RewrapProgress {
  /** Data keys moved under the current platform KEK by this run. */
  rewrappedDataKeys: number;
  /** Credential versions whose data key moved from a KEK to their owner's data key by this run. */
  migratedVersions: number;
  /** Still wrapped by a previous KEK (0 when done). */
  remaining: number;
}

/**
 * One data key per owner (a tenant, or '' for platform credentials), wrapped by the KEK:
 * the tenant's own (BYOK) when it has one, the platform KEK otherwise. Credential versions'
 * data keys are wrapped by their owner's data key, so rotating the platform KEK re-wraps
 * one small row per tenant, and revoking a tenant's KEK makes all of its credentials
 * unreadable at once (crypto-shredding).
 */
@Injectable()
export class TenantKeysService {
  private readonly cache = new Map<string, { key: KeyEncryptionKey; until: number }>();

  constructor(
    @Inject(SECRETS_DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(KEY_MANAGEMENT) private readonly kms: KeyManagement,
  ) {}

  /** The owner's data key, created (and wrapped) on first use. */
  async dataKey(owner: string): Promise<KeyEncryptionKey> {
    const cached = this.cache.get(owner);
    if (cached && cached.until > Date.now()) return cached.key;
    let row = await this.row(owner);
    if (!row) {
      const material = randomBytes(32);
      try {
        const own = owner ? await this.kms.tenantKek(owner) : undefined;
        const wrapped = await (own ?? this.kms.current).wrap(material, aadOf(owner));
        // A concurrent first use may win: then its key is the owner's key.
        await this.dataSource.query(
          `INSERT INTO secrets.tenant_keys (owner, kek_id, byok, wrapped_key, iv, tag) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner) DO NOTHING`,
          [owner, wrapped.kekId, Boolean(own), wrapped.wrappedDek, wrapped.iv, wrapped.tag],
        );
      } finally {
        material.fill(0);
      }
      row = await this.row(owner);
      if (!row) throw new SecretsError('data_key_missing', 'a tenant data key could not be created', 500);
    }
    const key = await this.unwrap(row);
    this.cache.set(owner, { key, until: Date.now() + DATA_KEY_CACHE_MS });
    return key;
  }

  /** A platform KEK by id, for credential versions written before per-tenant data keys. */
  legacyKek(kekId: string): KeyEncryptionKey {
    const kek = this.kms.platformKek(kekId);
    if (!kek) throw new SecretsError('kek_mismatch', `data key was wrapped by ${kekId}, which this service does not hold`, 500);
    return kek;
  }

  /** Brings the tenant's own KEK: its data key is re-wrapped under it from now on. */
  async setTenantKek(tenantId: string, material: string): Promise<{ tenantId: string; kekId: string }> {
    await this.dataKey(tenantId);
    // The key that wraps the data key now (platform, or a previous own KEK being replaced).
    const previousOwn = await this.kms.tenantKek(tenantId);
    const kek = await this.kms.setTenantKek(tenantId, material);
    await this.dataSource.transaction(async (manager) => {
      const rows: TenantKeyRow[] = await manager.query(`SELECT * FROM secrets.tenant_keys WHERE owner = $1 FOR UPDATE`, [tenantId]);
      const key = await this.unwrapMaterial(rows[0], (id) => this.kms.platformKek(id) ?? (previousOwn?.id === id ? previousOwn : undefined));
      try {
        const wrapped = await kek.wrap(key, aadOf(tenantId));
        await manager.query(`UPDATE secrets.tenant_keys SET kek_id = $2, byok = true, wrapped_key = $3, iv = $4, tag = $5, rewrapped_at = now() WHERE owner = $1`, [
          tenantId, wrapped.kekId, wrapped.wrappedDek, wrapped.iv, wrapped.tag,
        ]);
      } finally {
        key.fill(0);
      }
    });
    this.cache.delete(tenantId);
    return { tenantId, kekId: kek.id };
  }

  /** Revokes the tenant's own KEK: its data key, and so every credential it owns, becomes unreadable. */
  async revokeTenantKek(tenantId: string): Promise<void> {
    await this.kms.revokeTenantKek(tenantId);
    this.cache.delete(tenantId);
  }

  /**
   * Re-wraps, in batches, every data key still under a previous platform KEK, then moves
   * credential versions written before per-tenant data keys under their owner's data key.
   * Online (reads keep working: the previous KEK stays configured until this reports 0
   * remaining) and resumable (each batch commits; a rerun picks up what is left).
   */
  async rewrap(options: { batchSize?: number; maxBatches?: number } = {}): Promise<RewrapProgress> {
    const batchSize = options.batchSize ?? 500;
    let batches = options.maxBatches ?? Number.POSITIVE_INFINITY;
    const progress: RewrapProgress = { rewrappedDataKeys: 0, migratedVersions: 0, remaining: 0 };
    const current = this.kms.current;
    while (batches-- > 0) {
      const moved = await this.dataSource.transaction(async (manager) => {
        const rows: TenantKeyRow[] = await manager.query(
          `SELECT * FROM secrets.tenant_keys WHERE NOT byok AND kek_id <> $1 ORDER BY owner LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [current.id, batchSize],
        );
        const updates = { owner: [] as string[], kekId: [] as string[], wrapped: [] as Buffer[], iv: [] as Buffer[], tag: [] as Buffer[] };
        for (const row of rows) {
          const key = await this.unwrapMaterial(row, (id) => this.kms.platformKek(id));
          try {
            const wrapped = await current.wrap(key, aadOf(row.owner));
            updates.owner.push(row.owner);
            updates.kekId.push(wrapped.kekId);
            updates.wrapped.push(wrapped.wrappedDek);
            updates.iv.push(wrapped.iv);
            updates.tag.push(wrapped.tag);
          } finally {
            key.fill(0);
          }
        }
        if (rows.length) {
          await manager.query(
            `UPDATE secrets.tenant_keys k
                SET kek_id = u.kek_id, wrapped_key = u.wrapped_key, iv = u.iv, tag = u.tag, rewrapped_at = now()
               FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::bytea[]) AS u(owner, kek_id, wrapped_key, iv, tag)
              WHERE k.owner = u.owner`,
            [updates.owner, updates.kekId, updates.wrapped, updates.iv, updates.tag],
          );
        }
        return rows.length;
      });
      progress.rewrappedDataKeys += moved;
      if (moved < batchSize) break;
    }
    while (batches-- > 0) {
      const moved = await this.dataSource.transaction(async (manager) => {
        const rows: Array<{ credential_id: string; version: number; owner: string; kek_id: string; wrapped_dek: Buffer; dek_iv: Buffer; dek_tag: Buffer }> =
          await manager.query(
            `SELECT v.credential_id, v.version, coalesce(c.tenant_id, '') AS owner, v.kek_id, v.wrapped_dek, v.dek_iv, v.dek_tag
               FROM secrets.credential_versions v JOIN secrets.credentials c ON c.id = v.credential_id
              WHERE v.kek_id NOT LIKE 'tdk:%'
              ORDER BY v.credential_id, v.version LIMIT $1 FOR UPDATE OF v SKIP LOCKED`,
            [batchSize],
          );
        const updates = { id: [] as string[], version: [] as number[], kekId: [] as string[], wrapped: [] as Buffer[], iv: [] as Buffer[], tag: [] as Buffer[] };
        for (const row of rows) {
          const aad = `${row.credential_id}:${row.version}`;
          const dek = await this.legacyKek(row.kek_id).unwrap({ kekId: row.kek_id, wrappedDek: row.wrapped_dek, iv: row.dek_iv, tag: row.dek_tag }, aad);
          try {
            const wrapped = await (await this.dataKey(row.owner)).wrap(dek, aad);
            updates.id.push(row.credential_id);
            updates.version.push(row.version);
            updates.kekId.push(wrapped.kekId);
            updates.wrapped.push(wrapped.wrappedDek);
            updates.iv.push(wrapped.iv);
            updates.tag.push(wrapped.tag);
          } finally {
            dek.fill(0);
          }
        }
        // One statement per batch: a round trip per row made 10,000 versions take ~48 s.
        if (rows.length) {
          await manager.query(
            `UPDATE secrets.credential_versions v
                SET kek_id = u.kek_id, wrapped_dek = u.wrapped_dek, dek_iv = u.dek_iv, dek_tag = u.dek_tag
               FROM unnest($1::text[], $2::int[], $3::text[], $4::bytea[], $5::bytea[], $6::bytea[]) AS u(credential_id, version, kek_id, wrapped_dek, dek_iv, dek_tag)
              WHERE v.credential_id = u.credential_id AND v.version = u.version`,
            [updates.id, updates.version, updates.kekId, updates.wrapped, updates.iv, updates.tag],
          );
        }
        return rows.length;
      });
      progress.migratedVersions += moved;
      if (moved < batchSize) break;
    }
    progress.remaining = await this.remaining();
    return progress;
  }

  /** Which KEK wraps how many data keys, and how many versions still await the move to data keys. */
  async status(): Promise<{ currentKekId: string; dataKeys: Array<{ kekId: string; byok: boolean; count: number }>; legacyVersions: number; remaining: number }> {
    const dataKeys: Array<{ kek_id: string; byok: boolean; count: string }> = await this.dataSource.query(
      `SELECT kek_id, byok, count(*) AS count FROM secrets.tenant_keys GROUP BY kek_id, byok ORDER BY kek_id`,
    );
    const legacy: Array<{ count: string }> = await this.dataSource.query(`SELECT count(*) AS count FROM secrets.credential_versions WHERE kek_id NOT LIKE 'tdk:%'`);
    return {
      currentKekId: this.kms.current.id,
      dataKeys: dataKeys.map((r) => ({ kekId: r.kek_id, byok: r.byok, count: Number(r.count) })),
      legacyVersions: Number(legacy[0]?.count ?? 0),
      remaining: await this.remaining(),
    };
  }

  private async remaining(): Promise<number> {
    const rows: Array<{ count: string }> = await this.dataSource.query(
      `SELECT (SELECT count(*) FROM secrets.tenant_keys WHERE NOT byok AND kek_id <> $1) + (SELECT count(*) FROM secrets.credential_versions WHERE kek_id NOT LIKE 'tdk:%') AS count`,
      [this.kms.current.id],
    );
    return Number(rows[0]?.count ?? 0);
  }

  private async row(owner: string): Promise<TenantKeyRow | undefined> {
    const rows: TenantKeyRow[] = await this.dataSource.query(`SELECT * FROM secrets.tenant_keys WHERE owner = $1`, [owner]);
    return rows[0];
  }

  private async unwrap(row: TenantKeyRow): Promise<KeyEncryptionKey> {
    const own = row.byok ? await this.kms.tenantKek(row.owner) : undefined;
    const material = await this.unwrapMaterial(row, (id) => (row.byok ? (own?.id === id ? own : undefined) : this.kms.platformKek(id)));
    try {
      return LocalKeyEncryptionKey.fromBytes(material, 'tdk');
    } finally {
      material.fill(0);
    }
  }

  private async unwrapMaterial(row: TenantKeyRow | undefined, kekOf: (kekId: string) => KeyEncryptionKey | undefined): Promise<Buffer> {
    if (!row) throw new SecretsError('data_key_missing', 'no data key for this owner', 500);
    const kek = kekOf(row.kek_id);
    if (!kek) {
      if (row.byok) throw new SecretsError('tenant_key_revoked', "the tenant's key-encryption key is revoked or unavailable: its credentials cannot be read", 404);
      throw new SecretsError('kek_mismatch', `a data key is wrapped by ${row.kek_id}, which this service does not hold (configure it as SECRETS_KEK_PREVIOUS)`, 500);
    }
    const wrapped: WrappedKey = { kekId: row.kek_id, wrappedDek: row.wrapped_key, iv: row.iv, tag: row.tag };
    return kek.unwrap(wrapped, aadOf(row.owner));
  }
}
