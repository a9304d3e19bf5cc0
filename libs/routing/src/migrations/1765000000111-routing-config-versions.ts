import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every routing configuration version is kept: a snapshot of all deployments taken in the
 * same transaction as the write that bumped config_state.version. The current
 * configuration is recorded as the first kept version.
 */
export class RoutingConfigVersions1765000000111 implements MigrationInterface {
  name = 'RoutingConfigVersions1765000000111';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE routing.config_versions (
      version bigint PRIMARY KEY,
      created_at timestamptz NOT NULL DEFAULT now(),
      change text NOT NULL,
      deployments jsonb NOT NULL)`);
    await q.query(`INSERT INTO routing.config_versions (version, change, deployments)
      SELECT s.version, 'initial', COALESCE((SELECT jsonb_agg(to_jsonb(d) ORDER BY d.id) FROM routing.deployments d), '[]'::jsonb)
        FROM routing.config_state s`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE routing.config_versions');
  }
}
