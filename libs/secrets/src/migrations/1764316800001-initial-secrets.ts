import { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSecrets1764316800001 implements MigrationInterface {
  name = 'InitialSecrets1764316800001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE secrets.credentials (
      id text PRIMARY KEY,
      tenant_id text,
      name text NOT NULL,
      provider text NOT NULL,
      current_version integer NOT NULL CHECK (current_version > 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now())`);
    // One name per owner; platform credentials (NULL tenant) share one namespace.
    await q.query(`CREATE UNIQUE INDEX credentials_owner_name_idx ON secrets.credentials ((coalesce(tenant_id, '')), name)`);
    await q.query(`CREATE INDEX credentials_tenant_idx ON secrets.credentials (tenant_id)`);
    await q.query(`CREATE TABLE secrets.credential_versions (
      credential_id text NOT NULL REFERENCES secrets.credentials(id),
      version integer NOT NULL CHECK (version > 0),
      kek_id text NOT NULL,
      wrapped_dek bytea NOT NULL,
      dek_iv bytea NOT NULL,
      dek_tag bytea NOT NULL,
      iv bytea NOT NULL,
      tag bytea NOT NULL,
      ciphertext bytea NOT NULL,
      state text NOT NULL CHECK (state IN ('active','retired')),
      created_at timestamptz NOT NULL DEFAULT now(),
      retired_at timestamptz,
      PRIMARY KEY (credential_id, version))`);
    await q.query(`CREATE UNIQUE INDEX credential_versions_one_active_idx ON secrets.credential_versions (credential_id) WHERE state = 'active'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE secrets.credential_versions');
    await q.query('DROP TABLE secrets.credentials');
  }
}
