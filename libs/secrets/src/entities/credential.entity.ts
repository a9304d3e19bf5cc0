import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const CREDENTIAL_PROVIDERS = ['openai', 'anthropic', 'mistral', 'openai-compatible'] as const;
export type CredentialProvider = (typeof CREDENTIAL_PROVIDERS)[number];

/** A provider credential's metadata; its secret lives, encrypted, in credential_versions. */
@Entity({ name: 'credentials' })
export class CredentialEntity {
  @PrimaryColumn('text') id!: string;
  /** NULL: a platform credential (usable for any tenant); otherwise only that tenant's. */
  @Column('text', { name: 'tenant_id', nullable: true }) tenantId!: string | null;
  @Column('text') name!: string;
  @Column('text') provider!: CredentialProvider;
  @Column('integer', { name: 'current_version' }) currentVersion!: number;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
