import { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialRouting1764316800000 implements MigrationInterface {
  name = 'InitialRouting1764316800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE routing.deployments (
      id text PRIMARY KEY,
      tenant_id text,
      model text NOT NULL,
      provider text NOT NULL CHECK (provider IN ('openai','anthropic','mistral','openai-compatible')),
      upstream_model text NOT NULL,
      region text NOT NULL,
      base_url text NOT NULL,
      credential_id text,
      input_per_mtok_usd numeric(18,6) NOT NULL CHECK (input_per_mtok_usd >= 0),
      output_per_mtok_usd numeric(18,6) NOT NULL CHECK (output_per_mtok_usd >= 0),
      cached_input_per_mtok_usd numeric(18,6) NOT NULL CHECK (cached_input_per_mtok_usd >= 0),
      weight integer NOT NULL DEFAULT 100 CHECK (weight >= 0),
      priority integer NOT NULL DEFAULT 100,
      enabled boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now())`);
    // The plan query: enabled deployments of one model, platform or the caller's tenant.
    await q.query(`CREATE INDEX deployments_plan_idx ON routing.deployments (model, tenant_id) WHERE enabled`);
    await q.query(`CREATE INDEX deployments_tenant_idx ON routing.deployments (tenant_id)`);
    // One row: bumped in the same transaction as every deployment write, so a plan's
    // config_version never goes backwards, across restarts and replicas.
    await q.query(`CREATE TABLE routing.config_state (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      version bigint NOT NULL)`);
    await q.query(`INSERT INTO routing.config_state (id, version) VALUES (true, 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE routing.config_state');
    await q.query('DROP TABLE routing.deployments');
  }
}
