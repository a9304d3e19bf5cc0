import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { policyV1 } from '@asc/contracts';
import { CONFIG_CHANGE_PUBLISHER, EventPublisher, publishConfigChange } from '@asc/events';
import { decideWith, denyResponse, effectivePolicy, EffectivePolicy } from './effective-policy';
import { ApiKeyEntity } from './entities/api-key.entity';
import { PolicyVersionEntity } from './entities/policy-version.entity';
import { diffPolicyDocuments, PolicyChange } from './policy-diff';
import { documentSchema, NarrowingPolicyDocument, PolicyDocument, PolicyScope, TenantPolicyDocument } from './policy-document';
import { PolicyError } from './policy.error';

export const POLICY_DATA_SOURCE = Symbol('POLICY_DATA_SOURCE');

/** Bound on the effective-policy cache (entries, over all tenants). */
const CACHE_LIMIT = 50_000;
/** The cache is emptied this often whatever the change events say (another replica's write). */
const CACHE_MAX_AGE_MS = 30_000;

export interface PolicyVersionView {
  tenantId: string;
  scope: PolicyScope;
  scopeId: string;
  policyId: string;
  version: number;
  rolledBackTo: number | null;
  createdAt: Date;
  document: PolicyDocument;
}

interface CachedEffective {
  policy: EffectivePolicy | null;
  policyId: string;
  version: number;
}

const view = (row: PolicyVersionEntity): PolicyVersionView => ({
  tenantId: row.tenantId,
  scope: row.scope,
  scopeId: row.scopeId,
  policyId: row.policyId,
  version: row.version,
  rolledBackTo: row.rolledBackTo,
  createdAt: row.createdAt,
  document: row.document,
});

/**
 * Versioned policy documents (tenant, app, key) and the decision made from them. Writes
 * are serialised per tenant by a row lock on the tenant, so concurrent writers get distinct
 * versions; a writer that names the version it expects to replace gets 409 when another
 * writer got there first.
 */
@Injectable()
export class PolicyVersionsService implements OnModuleDestroy {
  private readonly versions: Repository<PolicyVersionEntity>;
  private readonly keys: Repository<ApiKeyEntity>;
  /** tenantId → (appId \0 keyId) → effective policy. */
  private readonly cache = new Map<string, Map<string, CachedEffective>>();
  private cached = 0;
  /** Bumped by every invalidation, so a read that raced a write is not cached. */
  private readonly generations = new Map<string, number>();
  private readonly flushTimer = setInterval(() => this.flush(), CACHE_MAX_AGE_MS).unref();

  constructor(
    @Inject(POLICY_DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(CONFIG_CHANGE_PUBLISHER) private readonly events: EventPublisher | null,
  ) {
    this.versions = dataSource.getRepository(PolicyVersionEntity);
    this.keys = dataSource.getRepository(ApiKeyEntity);
  }

  /** Validates `body` for `scope` and stores it as the tenant's next version. */
  async put(tenantId: string, scope: PolicyScope, scopeId: string, body: unknown, expectedVersion?: number): Promise<PolicyVersionView> {
    const document = documentSchema(scope).parse(body);
    return this.write(tenantId, scope, scopeId, document, expectedVersion, null);
  }

  /** Current document of a scope, or 404. */
  async current(tenantId: string, scope: PolicyScope, scopeId: string): Promise<PolicyVersionView> {
    const row = await this.versions.findOne({ where: { tenantId, scope, scopeId }, order: { version: 'DESC' } });
    if (!row) throw new PolicyError('policy_not_found', `no ${scope} policy ${scopeId ? `for ${scopeId} ` : ''}in tenant ${tenantId}`, 404);
    return view(row);
  }

  async list(tenantId: string, filter: { scope?: PolicyScope; scopeId?: string } = {}): Promise<PolicyVersionView[]> {
    const rows = await this.versions.find({
      where: { tenantId, ...(filter.scope ? { scope: filter.scope } : {}), ...(filter.scopeId !== undefined ? { scopeId: filter.scopeId } : {}) },
      order: { version: 'DESC' },
      take: 1000,
    });
    return rows.map(view);
  }

  async get(tenantId: string, version: number): Promise<PolicyVersionView> {
    const row = await this.versions.findOneBy({ tenantId, version });
    if (!row) throw new PolicyError('policy_version_not_found', `tenant ${tenantId} has no policy version ${version}`, 404, 'version');
    return view(row);
  }

  /** What changed from one version to another (usually of the same scope; else both are named). */
  async diff(tenantId: string, from: number, to: number): Promise<{ from: PolicyVersionView; to: PolicyVersionView; changes: PolicyChange[] }> {
    const [a, b] = await Promise.all([this.get(tenantId, from), this.get(tenantId, to)]);
    return { from: a, to: b, changes: diffPolicyDocuments(a.document, b.document) };
  }

  /** Writes the document of `version` again, as a new version of the same scope. */
  async rollback(tenantId: string, version: number, expectedVersion?: number): Promise<PolicyVersionView> {
    const target = await this.get(tenantId, version);
    return this.write(tenantId, target.scope, target.scopeId, target.document, expectedVersion, version);
  }

  /** The effective policy of a key (or of an app, keyId ''), null when the tenant has no policy. */
  async effective(tenantId: string, appId: string, keyId: string): Promise<CachedEffective> {
    const k = `${appId}\u0000${keyId}`;
    const hit = this.cache.get(tenantId)?.get(k);
    if (hit) return hit;
    const generation = this.generations.get(tenantId) ?? 0;
    const rows: Array<{ scope: PolicyScope; version: string; policy_id: string; document: PolicyDocument }> = await this.dataSource.query(
      `SELECT DISTINCT ON (scope) scope, version, policy_id, document
         FROM policy.policy_versions
        WHERE tenant_id = $1 AND ((scope = 'tenant' AND scope_id = '') OR (scope = 'app' AND scope_id = $2) OR (scope = 'key' AND scope_id = $3))
        ORDER BY scope, version DESC`,
      [tenantId, appId, keyId],
    );
    const [{ latest }]: Array<{ latest: string | null }> = await this.dataSource.query(
      `SELECT max(version) AS latest FROM policy.policy_versions WHERE tenant_id = $1`,
      [tenantId],
    );
    const doc = (scope: PolicyScope) => rows.find((r) => r.scope === scope);
    const tenant = doc('tenant');
    let result: CachedEffective;
    if (!tenant) result = { policy: null, policyId: '', version: Number(latest ?? 0) };
    else {
      const key = keyId ? await this.keys.findOneBy({ id: keyId, tenantId }) : null;
      result = {
        policy: effectivePolicy(
          tenant.document as TenantPolicyDocument,
          doc('app')?.document as NarrowingPolicyDocument | undefined,
          doc('key')?.document as NarrowingPolicyDocument | undefined,
          { models: key?.modelScopes ?? [], operations: key?.operationScopes ?? [] },
        ),
        policyId: tenant.policy_id,
        version: Number(latest ?? tenant.version),
      };
    }
    if ((this.generations.get(tenantId) ?? 0) === generation) this.remember(tenantId, k, result);
    return result;
  }

  /** Default deny: no tenant policy, or a model/operation outside the effective policy, is refused. */
  async decide(request: policyV1.DecideRequest): Promise<policyV1.DecideResponse> {
    const effective = await this.effective(request.tenantId, request.appId, request.keyId);
    const ctx = { policyId: effective.policyId, policyVersion: effective.version, appId: request.appId };
    if (!effective.policy) return denyResponse('no_policy', 'this tenant has no policy: every model is denied', ctx);
    return decideWith(effective.policy, request.model, request.operation, ctx);
  }

  /** Drops a tenant's cached effective policies (its own write or another replica's). */
  invalidateTenant(tenantId: string): void {
    this.generations.set(tenantId, (this.generations.get(tenantId) ?? 0) + 1);
    const entries = this.cache.get(tenantId);
    if (!entries) return;
    this.cached -= entries.size;
    this.cache.delete(tenantId);
  }

  onModuleDestroy(): void {
    clearInterval(this.flushTimer);
  }

  private async write(
    tenantId: string,
    scope: PolicyScope,
    scopeId: string,
    document: PolicyDocument,
    expectedVersion: number | undefined,
    rolledBackTo: number | null,
  ): Promise<PolicyVersionView> {
    const saved = await this.dataSource.transaction(async (m) => {
      // The tenant row lock serialises this tenant's policy writers: version = max + 1 is
      // read and written under it, so two writers can never pick the same number.
      const locked: unknown[] = await m.query(`SELECT id FROM policy.tenants WHERE id = $1 FOR UPDATE`, [tenantId]);
      if (!locked.length) throw new PolicyError('tenant_not_found', `tenant ${tenantId} not found`, 404);
      await this.assertScopeExists(m, tenantId, scope, scopeId);
      const repo = m.getRepository(PolicyVersionEntity);
      const current = await repo.findOne({ where: { tenantId, scope, scopeId }, order: { version: 'DESC' } });
      if (expectedVersion !== undefined && expectedVersion !== (current?.version ?? 0)) {
        throw new PolicyError(
          'policy_version_conflict',
          `the ${scope} policy is at version ${current?.version ?? 0}, not ${expectedVersion}: read it again and retry`,
          409,
          'expectedVersion',
        );
      }
      const [{ latest, policy_id: policyId }]: Array<{ latest: string | null; policy_id: string | null }> = await m.query(
        `SELECT max(version) AS latest, (array_agg(policy_id ORDER BY version DESC))[1] AS policy_id FROM policy.policy_versions WHERE tenant_id = $1`,
        [tenantId],
      );
      return repo.save(
        repo.create({
          tenantId,
          version: Number(latest ?? 0) + 1,
          scope,
          scopeId,
          policyId: policyId ?? `pol_${randomBytes(10).toString('hex')}`,
          document,
          rolledBackTo,
        }),
      );
    });
    this.invalidateTenant(tenantId);
    publishConfigChange(this.events, 'asc-policy', { tenantId, kind: 'policy', entityId: saved.policyId });
    return view(saved);
  }

  private async assertScopeExists(m: EntityManager, tenantId: string, scope: PolicyScope, scopeId: string): Promise<void> {
    if (scope === 'tenant') return;
    const table = scope === 'app' ? 'policy.apps' : 'policy.api_keys';
    const found: unknown[] = await m.query(`SELECT 1 FROM ${table} WHERE id = $1 AND tenant_id = $2`, [scopeId, tenantId]);
    if (!found.length) throw new PolicyError(`${scope}_not_found`, `${scope} ${scopeId} not found for tenant ${tenantId}`, 404);
  }

  private remember(tenantId: string, k: string, value: CachedEffective): void {
    if (this.cached >= CACHE_LIMIT) this.flush();
    let entries = this.cache.get(tenantId);
    if (!entries) this.cache.set(tenantId, (entries = new Map()));
    if (!entries.has(k)) this.cached++;
    entries.set(k, value);
  }

  private flush(): void {
    for (const tenantId of this.cache.keys()) this.generations.set(tenantId, (this.generations.get(tenantId) ?? 0) + 1);
    this.cache.clear();
    this.cached = 0;
  }
}
