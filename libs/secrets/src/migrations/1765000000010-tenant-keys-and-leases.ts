import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-owner data keys wrapped by a KEK (platform or the tenant's own), and recorded leases.
 * Existing credential versions keep their KEK-wrapped data keys until a re-wrap moves them
 * under their owner's data key (POST /admin/v1/kek/rewrap, also run at start).
 */
export class TenantKeysAndLeases1765000000010 implements MigrationInterface {
  name = 'TenantKeysAndLeases1765000000010';

  async up(q: QueryRunner): Promise<void> {
    // owner: a tenant id, or '' for platform credentials.
    await q.query(`CREATE TABLE secrets.tenant_keys (
      owner text PRIMARY KEY,
      kek_id text NOT NULL,
      -- true: wrapped by the tenant's own KEK (BYOK), which rotation of the platform KEK leaves alone.
      byok boolean NOT NULL DEFAULT false,
      wrapped_key bytea NOT NULL,
      iv bytea NOT NULL,
      tag bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      rewrapped_at timestamptz)`);
    await q.query(`CREATE INDEX tenant_keys_kek_idx ON secrets.tenant_keys (kek_id)`);
    await q.query(`CREATE TABLE secrets.leases (
      id text PRIMARY KEY,
      credential_id text NOT NULL,
      version integer NOT NULL,
      tenant_id text NOT NULL,
      caller text NOT NULL,
      purpose text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz)`);
    await q.query(`CREATE INDEX leases_credential_idx ON secrets.leases (credential_id, created_at)`);
    await q.query(`CREATE INDEX leases_tenant_idx ON secrets.leases (tenant_id, created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE secrets.leases');
    await q.query('DROP TABLE secrets.tenant_keys');
  }
}
