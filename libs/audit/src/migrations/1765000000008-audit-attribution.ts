import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each audit record names the end user the request was made for and what the guardrails
 * did (detector, action, count: never the matched text). Records written before read ''
 * and [] (nothing was recorded then).
 */
export class AuditAttribution1765000000008 implements MigrationInterface {
  name = 'AuditAttribution1765000000008';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE audit.records
      ADD COLUMN end_user_id text NOT NULL DEFAULT '',
      ADD COLUMN guardrail_actions jsonb NOT NULL DEFAULT '[]'::jsonb`);
    await q.query(`CREATE INDEX records_tenant_end_user_idx ON audit.records (tenant_id, end_user_id, occurred_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX audit.records_tenant_end_user_idx');
    await q.query('ALTER TABLE audit.records DROP COLUMN guardrail_actions, DROP COLUMN end_user_id');
  }
}
