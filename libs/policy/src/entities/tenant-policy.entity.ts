import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A tenant's current policy. Every change bumps `version` (recorded in each request event). */
@Entity({ name: 'tenant_policies' })
export class TenantPolicyEntity {
  @PrimaryColumn('text', { name: 'tenant_id' }) tenantId!: string;
  @Column('text', { name: 'policy_id' }) policyId!: string;
  @Column('bigint', { transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) version!: number;
  /** Model names (aliases or provider models) the tenant may call; "*" means any. */
  @Column('text', { name: 'allowed_models', array: true }) allowedModels!: string[];
  /** Regions the tenant's prompts may be processed in; "*" means any. */
  @Column('text', { name: 'allowed_regions', array: true }) allowedRegions!: string[];
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
