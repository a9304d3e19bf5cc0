import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Versioned policy documents per tenant, app and key (replacing the one mutable row per
 * tenant), key scopes and expiry. Existing tenant policies become version rows of the same
 * number, so policy versions already recorded in request events keep their meaning.
 */
export class PolicyVersions1765000000008 implements MigrationInterface {
  name = 'PolicyVersions1765000000008';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE policy.policy_versions (
      tenant_id text NOT NULL REFERENCES policy.tenants(id),
      version bigint NOT NULL CHECK (version > 0),
      scope text NOT NULL CHECK (scope IN ('tenant','app','key')),
      scope_id text NOT NULL,
      policy_id text NOT NULL,
      document jsonb NOT NULL,
      rolled_back_to bigint,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, version),
      CHECK ((scope = 'tenant') = (scope_id = '')))`);
    await q.query(`CREATE INDEX policy_versions_scope_idx ON policy.policy_versions (tenant_id, scope, scope_id, version DESC)`);
    await q.query(`INSERT INTO policy.policy_versions (tenant_id, version, scope, scope_id, policy_id, document, created_at)
      SELECT tenant_id, version, 'tenant', '', policy_id,
             jsonb_build_object('allowedModels', to_jsonb(allowed_models), 'allowedRegions', to_jsonb(allowed_regions)), updated_at
        FROM policy.tenant_policies`);
    await q.query(`DROP TABLE policy.tenant_policies`);
    // Versions are history: nothing rewrites or removes them.
    await q.query(`CREATE FUNCTION policy.policy_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'policy versions are append-only'; END $$`);
    await q.query(`CREATE TRIGGER policy_versions_append_only BEFORE UPDATE OR DELETE ON policy.policy_versions
      FOR EACH ROW EXECUTE FUNCTION policy.policy_versions_append_only()`);
    await q.query(`ALTER TABLE policy.api_keys
      ADD COLUMN model_scopes text[] NOT NULL DEFAULT '{}',
      ADD COLUMN operation_scopes text[] NOT NULL DEFAULT '{}',
      ADD COLUMN expires_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE policy.api_keys DROP COLUMN expires_at, DROP COLUMN operation_scopes, DROP COLUMN model_scopes`);
    await q.query(`CREATE TABLE policy.tenant_policies (
      tenant_id text PRIMARY KEY REFERENCES policy.tenants(id),
      policy_id text NOT NULL,
      version bigint NOT NULL,
      allowed_models text[] NOT NULL,
      allowed_regions text[] NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`INSERT INTO policy.tenant_policies (tenant_id, policy_id, version, allowed_models, allowed_regions, updated_at)
      SELECT DISTINCT ON (tenant_id) tenant_id, policy_id, version,
             ARRAY(SELECT jsonb_array_elements_text(document->'allowedModels')),
             ARRAY(SELECT jsonb_array_elements_text(document->'allowedRegions')), created_at
        FROM policy.policy_versions WHERE scope = 'tenant' ORDER BY tenant_id, version DESC`);
    await q.query(`DROP TABLE policy.policy_versions`);
    await q.query(`DROP FUNCTION policy.policy_versions_append_only()`);
  }
}
