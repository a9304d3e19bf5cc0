import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryColumn('text') id!: string;
  @Column('text', { name: 'tenant_id' }) tenantId!: string;
  @Column('text', { name: 'app_id' }) appId!: string;
  /** SHA-256 of the key; the key itself is shown once at creation and never stored. */
  @Column('text', { name: 'key_hash' }) keyHash!: string;
  @Column('text', { name: 'display_prefix' }) displayPrefix!: string;
  @Column('text', { array: true }) scopes!: string[];
  /** Models this key may call; empty = whatever its app and tenant allow. */
  @Column('text', { name: 'model_scopes', array: true }) modelScopes!: string[];
  /** Operations this key may call; empty = whatever its app and tenant allow. */
  @Column('text', { name: 'operation_scopes', array: true }) operationScopes!: string[];
  /** After this instant the key is refused with reason "expired" (null = never). */
  @Column('timestamptz', { name: 'expires_at', nullable: true }) expiresAt!: Date | null;
  @Column('text') status!: 'active' | 'revoked';
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column('timestamptz', { name: 'revoked_at', nullable: true }) revokedAt!: Date | null;
}
