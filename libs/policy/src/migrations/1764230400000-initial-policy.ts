import { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialPolicy1764230400000 implements MigrationInterface {
  name = 'InitialPolicy1764230400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE policy.tenants (
      id text PRIMARY KEY,
      name text NOT NULL,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','disabled')),
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE policy.apps (
      id text PRIMARY KEY,
      tenant_id text NOT NULL REFERENCES policy.tenants(id),
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, name))`);
    await q.query(`CREATE TABLE policy.api_keys (
      id text PRIMARY KEY,
      tenant_id text NOT NULL REFERENCES policy.tenants(id),
      app_id text NOT NULL REFERENCES policy.apps(id),
      key_hash text NOT NULL UNIQUE,
      display_prefix text NOT NULL,
      scopes text[] NOT NULL DEFAULT '{}',
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','revoked')),
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz)`);
    await q.query(`CREATE INDEX api_keys_tenant_idx ON policy.api_keys (tenant_id)`);
    await q.query(`CREATE TABLE policy.tenant_policies (
      tenant_id text PRIMARY KEY REFERENCES policy.tenants(id),
      policy_id text NOT NULL,
      version bigint NOT NULL,
      allowed_models text[] NOT NULL,
      allowed_regions text[] NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now())`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE policy.tenant_policies');
    await q.query('DROP TABLE policy.api_keys');
    await q.query('DROP TABLE policy.apps');
    await q.query('DROP TABLE policy.tenants');
  }
}
