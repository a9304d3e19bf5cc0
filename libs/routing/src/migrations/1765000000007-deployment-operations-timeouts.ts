import { MigrationInterface, QueryRunner } from 'typeorm';

/** What a deployment serves and how long ingress waits for it (NULL: the provider's operations, ingress defaults). */
export class DeploymentOperationsTimeouts1765000000007 implements MigrationInterface {
  name = 'DeploymentOperationsTimeouts1765000000007';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE routing.deployments ADD COLUMN operations text[], ADD COLUMN timeouts jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE routing.deployments DROP COLUMN operations, DROP COLUMN timeouts`);
  }
}
