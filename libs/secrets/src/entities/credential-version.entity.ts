import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * One version of a credential's secret, envelope-encrypted: the ciphertext under a fresh
 * data key (DEK), the DEK wrapped by the key-encryption key `kek_id`. Both are
 * authenticated with the AAD `${credentialId}:${version}`. Retired versions are kept.
 */
@Entity({ name: 'credential_versions' })
export class CredentialVersionEntity {
  @PrimaryColumn('text', { name: 'credential_id' }) credentialId!: string;
  @PrimaryColumn('integer') version!: number;
  @Column('text', { name: 'kek_id' }) kekId!: string;
  @Column('bytea', { name: 'wrapped_dek' }) wrappedDek!: Buffer;
  @Column('bytea', { name: 'dek_iv' }) dekIv!: Buffer;
  @Column('bytea', { name: 'dek_tag' }) dekTag!: Buffer;
  @Column('bytea') iv!: Buffer;
  @Column('bytea') tag!: Buffer;
  @Column('bytea') ciphertext!: Buffer;
  @Column('text') state!: 'active' | 'retired';
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column('timestamptz', { name: 'retired_at', nullable: true }) retiredAt!: Date | null;
}
