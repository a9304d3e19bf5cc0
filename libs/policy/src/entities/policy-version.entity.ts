import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { PolicyDocument, PolicyScope } from '../policy-document';

const bigint = { to: (v: number | null) => v, from: (v: string | null) => (v === null ? null : Number(v)) };

/**
 * Every version of every policy document of a tenant, never updated or deleted. One counter
 * per tenant (`version`) covers the tenant's, its apps' and its keys' documents, so a
 * version number names the whole effective configuration at that moment; the current
 * document of a scope is its row with the highest version.
 */
@Entity({ name: 'policy_versions' })
export class PolicyVersionEntity {
  @PrimaryColumn('text', { name: 'tenant_id' }) tenantId!: string;
  @PrimaryColumn('bigint', { transformer: bigint }) version!: number;
  @Column('text') scope!: PolicyScope;
  /** '' for the tenant scope, else the app or key id. */
  @Column('text', { name: 'scope_id' }) scopeId!: string;
  @Column('text', { name: 'policy_id' }) policyId!: string;
  @Column('jsonb') document!: PolicyDocument;
  /** The version this one restored, when it was written by a rollback. */
  @Column('bigint', { name: 'rolled_back_to', nullable: true, transformer: bigint }) rolledBackTo!: number | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
