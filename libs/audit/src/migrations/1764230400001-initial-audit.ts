import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail is append-only: a trigger rejects UPDATE and DELETE, so a record, once
 * written, is never changed by the application (tamper evidence via hash chains comes
 * in a later migration).
 */
export class InitialAudit1764230400001 implements MigrationInterface {
  name = 'InitialAudit1764230400001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE audit.records (
      seq bigserial PRIMARY KEY,
      event_id text NOT NULL UNIQUE,
      event_type text NOT NULL,
      tenant_id text NOT NULL,
      request_id text NOT NULL,
      app_id text NOT NULL,
      key_id text NOT NULL,
      decision text NOT NULL,
      reason_code text NOT NULL,
      requested_model text NOT NULL,
      served_model text NOT NULL,
      provider text NOT NULL,
      deployment_id text NOT NULL,
      region text NOT NULL,
      credential_id text NOT NULL,
      credential_version integer NOT NULL,
      policy_id text NOT NULL,
      policy_version bigint NOT NULL,
      status text NOT NULL,
      http_status integer NOT NULL,
      traceparent text,
      occurred_at timestamptz NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX records_tenant_time_idx ON audit.records (tenant_id, occurred_at DESC)`);
    await q.query(`CREATE INDEX records_tenant_request_idx ON audit.records (tenant_id, request_id)`);
    await q.query(`CREATE FUNCTION audit.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit.records is append-only'; END $$`);
    await q.query(`CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON audit.records
      FOR EACH ROW EXECUTE FUNCTION audit.reject_change()`);
    await q.query(`CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON audit.records
      FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_change()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE audit.records');
    await q.query('DROP FUNCTION audit.reject_change()');
  }
}
