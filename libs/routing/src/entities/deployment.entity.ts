import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const PROVIDERS = ['openai', 'anthropic', 'mistral', 'openai-compatible'] as const;
export type Provider = (typeof PROVIDERS)[number];
export const OPERATIONS = ['chat.completions', 'embeddings', 'count_tokens'] as const;

/** Per-deployment timeouts in ms; an absent one is the ingress default. */
export interface DeploymentTimeouts {
  connectMs?: number;
  ttftMs?: number;
  idleMs?: number;
  totalMs?: number;
}

/** `numeric` arrives from pg as a string; prices are small decimals, safe as doubles. */
const numeric = { to: (v: number) => v, from: (v: string | null) => (v === null ? 0 : Number(v)) };

/**
 * One way to serve a model: a provider endpoint in a region with a credential and a price.
 * Never deleted (audit records reference it); disabling takes it out of every plan.
 */
@Entity({ name: 'deployments' })
export class DeploymentEntity {
  @PrimaryColumn('text') id!: string;
  /** NULL: a platform deployment any tenant may be routed to; otherwise only this tenant. */
  @Column('text', { name: 'tenant_id', nullable: true }) tenantId!: string | null;
  /** The name clients call: an alias (`support-chat`) or a provider model name. */
  @Column('text') model!: string;
  @Column('text') provider!: Provider;
  @Column('text', { name: 'upstream_model' }) upstreamModel!: string;
  @Column('text') region!: string;
  @Column('text', { name: 'base_url' }) baseUrl!: string;
  /** NULL for endpoints that need no credential (a local vLLM or Ollama). */
  @Column('text', { name: 'credential_id', nullable: true }) credentialId!: string | null;
  @Column('numeric', { name: 'input_per_mtok_usd', transformer: numeric }) inputPerMtokUsd!: number;
  @Column('numeric', { name: 'output_per_mtok_usd', transformer: numeric }) outputPerMtokUsd!: number;
  @Column('numeric', { name: 'cached_input_per_mtok_usd', transformer: numeric }) cachedInputPerMtokUsd!: number;
  @Column('integer') weight!: number;
  /** Lower is tried first. */
  @Column('integer') priority!: number;
  @Column('boolean') enabled!: boolean;
  /** NULL: what the provider's API offers (Anthropic: chat and count_tokens; others: chat and embeddings). */
  @Column('text', { array: true, nullable: true }) operations!: string[] | null;
  @Column('jsonb', { nullable: true }) timeouts!: DeploymentTimeouts | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
