import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource, QueryFailedError, Repository } from 'typeorm';
import { policyV1 } from '@asc/contracts';
import { CONFIG_CHANGE_PUBLISHER, ConfigChangedV1, EventPublisher, publishConfigChange } from '@asc/events';
import { apiKeyDisplayPrefix, generateApiKey, hashApiKey } from '@asc/tenancy';
import { ApiKeyEntity } from './entities/api-key.entity';
import { AppEntity } from './entities/app.entity';
import { TenantPolicyEntity } from './entities/tenant-policy.entity';
import { TenantEntity } from './entities/tenant.entity';
import { PolicyError } from './policy.error';

export const POLICY_DATA_SOURCE = Symbol('POLICY_DATA_SOURCE');

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{1,62}$/;
const newId = (prefix: string) => `${prefix}_${randomBytes(10).toString('hex')}`;

/** Bound on each read cache of this service. */
const CACHE_LIMIT = 50_000;
/** The read caches are emptied this often, whatever the change events say. */
const CACHE_MAX_AGE_MS = 30_000;

/**
 * Tenants, apps, API keys and the tenant policy. Reads on the request path (key lookup,
 * decide) are served from bounded in-memory maps that every write through this service
 * invalidates.
 */
@Injectable()
export class TenancyService implements OnModuleDestroy {
  private readonly tenants: Repository<TenantEntity>;
  private readonly apps: Repository<AppEntity>;
  private readonly keys: Repository<ApiKeyEntity>;
  private readonly policies: Repository<TenantPolicyEntity>;
  private readonly principalCache = new Map<string, policyV1.AuthenticateKeyResponse>();
  private readonly policyCache = new Map<string, TenantPolicyEntity | null>();
  /** Backstop for a change event that never arrived (another replica's write, log outage). */
  private readonly flushTimer = setInterval(() => {
    this.principalCache.clear();
    this.policyCache.clear();
  }, CACHE_MAX_AGE_MS).unref();

  constructor(
    @Inject(POLICY_DATA_SOURCE) dataSource: DataSource,
    @Inject(CONFIG_CHANGE_PUBLISHER) private readonly events: EventPublisher | null,
  ) {
    this.tenants = dataSource.getRepository(TenantEntity);
    this.apps = dataSource.getRepository(AppEntity);
    this.keys = dataSource.getRepository(ApiKeyEntity);
    this.policies = dataSource.getRepository(TenantPolicyEntity);
  }

  async createTenant(input: { id?: string; name: string }): Promise<TenantEntity> {
    const id = input.id ?? newId('ten');
    if (!TENANT_ID.test(id)) {
      throw new PolicyError('invalid_tenant_id', 'tenant id must be 2-63 chars of a-z, 0-9, "-" or "_"', 400, 'id');
    }
    const exists = () => new PolicyError('tenant_exists', `tenant ${id} already exists`, 409, 'id');
    if (await this.tenants.existsBy({ id })) throw exists();
    // A concurrent create of the same id loses on the primary key: 409, not 500.
    return this.tenants.insert(this.tenants.create({ id, name: input.name, status: 'active' })).then(
      () => this.getTenant(id),
      (err: unknown) => {
        throw isUniqueViolation(err) ? exists() : err;
      },
    );
  }

  async getTenant(tenantId: string): Promise<TenantEntity> {
    const tenant = await this.tenants.findOneBy({ id: tenantId });
    if (!tenant) throw new PolicyError('tenant_not_found', `tenant ${tenantId} not found`, 404);
    return tenant;
  }

  async createApp(tenantId: string, name: string): Promise<AppEntity> {
    await this.getTenant(tenantId);
    if (await this.apps.existsBy({ tenantId, name })) {
      throw new PolicyError('app_exists', `app ${name} already exists for this tenant`, 409, 'name');
    }
    return this.apps.save(this.apps.create({ id: newId('app'), tenantId, name })).catch((err: unknown) => {
      throw isUniqueViolation(err) ? new PolicyError('app_exists', `app ${name} already exists for this tenant`, 409, 'name') : err;
    });
  }

  /** Creates a key and returns it once; only its digest is stored. */
  async createApiKey(tenantId: string, appId: string, scopes: string[], presetKey?: string): Promise<{ id: string; key: string; displayPrefix: string }> {
    const app = await this.apps.findOneBy({ id: appId, tenantId });
    if (!app) throw new PolicyError('app_not_found', `app ${appId} not found for tenant ${tenantId}`, 404, 'appId');
    const key = presetKey ?? generateApiKey();
    const keyHash = hashApiKey(key);
    if (await this.keys.existsBy({ keyHash })) throw new PolicyError('key_exists', 'this key is already registered', 409);
    const entity = await this.keys
      .save(this.keys.create({ id: newId('key'), tenantId, appId, keyHash, displayPrefix: apiKeyDisplayPrefix(key), scopes, status: 'active', revokedAt: null }))
      .catch((err: unknown) => {
        throw isUniqueViolation(err) ? new PolicyError('key_exists', 'this key is already registered', 409) : err;
      });
    return { id: entity.id, key, displayPrefix: entity.displayPrefix };
  }

  async listApiKeys(tenantId: string): Promise<Array<Omit<ApiKeyEntity, 'keyHash'>>> {
    const keys = await this.keys.find({ where: { tenantId }, order: { createdAt: 'ASC' } });
    return keys.map(({ keyHash: _hidden, ...rest }) => rest);
  }

  async revokeApiKey(tenantId: string, keyId: string): Promise<void> {
    const key = await this.keys.findOneBy({ id: keyId, tenantId });
    if (!key) throw new PolicyError('key_not_found', `key ${keyId} not found for tenant ${tenantId}`, 404);
    await this.keys.update({ id: keyId }, { status: 'revoked', revokedAt: new Date() });
    this.principalCache.delete(key.keyHash);
    publishConfigChange(this.events, 'asc-policy', { tenantId, kind: 'api_key', entityId: keyId, keyHash: key.keyHash });
  }

  async setPolicy(tenantId: string, input: { allowedModels: string[]; allowedRegions: string[] }): Promise<TenantPolicyEntity> {
    await this.getTenant(tenantId);
    // One atomic upsert: concurrent writers each get their own version, never a 500 or a repeat.
    const rows: Array<{ tenant_id: string; policy_id: string; version: string; allowed_models: string[]; allowed_regions: string[]; updated_at: Date }> =
      await this.policies.query(
        `INSERT INTO policy.tenant_policies AS p (tenant_id, policy_id, version, allowed_models, allowed_regions, updated_at)
         VALUES ($1, $2, 1, $3, $4, now())
         ON CONFLICT (tenant_id) DO UPDATE
           SET version = p.version + 1, allowed_models = EXCLUDED.allowed_models, allowed_regions = EXCLUDED.allowed_regions, updated_at = now()
         RETURNING tenant_id, policy_id, version, allowed_models, allowed_regions, updated_at`,
        [tenantId, newId('pol'), input.allowedModels, input.allowedRegions],
      );
    const row = rows[0];
    const saved = this.policies.create({
      tenantId: row.tenant_id,
      policyId: row.policy_id,
      version: Number(row.version),
      allowedModels: row.allowed_models,
      allowedRegions: row.allowed_regions,
      updatedAt: row.updated_at,
    });
    this.policyCache.delete(tenantId);
    publishConfigChange(this.events, 'asc-policy', { tenantId, kind: 'policy', entityId: saved.policyId });
    return saved;
  }

  async getPolicy(tenantId: string): Promise<TenantPolicyEntity | null> {
    if (this.policyCache.has(tenantId)) return this.policyCache.get(tenantId) ?? null;
    const policy = await this.policies.findOneBy({ tenantId });
    this.remember(this.policyCache, tenantId, policy);
    return policy;
  }

  async authenticate(keyHash: string): Promise<policyV1.AuthenticateKeyResponse> {
    const cached = this.principalCache.get(keyHash);
    if (cached) return cached;
    const rows: Array<{ id: string; tenant_id: string; app_id: string; scopes: string[]; status: string; tenant_status: string }> =
      await this.keys.query(
        `SELECT k.id, k.tenant_id, k.app_id, k.scopes, k.status, t.status AS tenant_status
           FROM policy.api_keys k JOIN policy.tenants t ON t.id = k.tenant_id
          WHERE k.key_hash = $1`,
        [keyHash],
      );
    const row = rows[0];
    let result: policyV1.AuthenticateKeyResponse;
    if (!row) result = { found: false, principal: undefined, reason: 'unknown' };
    else if (row.status !== 'active') result = { found: false, principal: undefined, reason: 'revoked' };
    else if (row.tenant_status !== 'active') result = { found: false, principal: undefined, reason: 'tenant_disabled' };
    else result = { found: true, principal: { tenantId: row.tenant_id, appId: row.app_id, keyId: row.id, scopes: row.scopes }, reason: '' };
    // Unknown digests are not cached: a flood of random keys must not evict real ones.
    if (row) this.remember(this.principalCache, keyHash, result);
    return result;
  }

  /** Default deny: no policy, or a model outside the policy, is refused. */
  async decide(request: policyV1.DecideRequest): Promise<policyV1.DecideResponse> {
    const deny = (reasonCode: string, reason: string, policy?: TenantPolicyEntity | null): policyV1.DecideResponse => ({
      decision: policyV1.Decision.DECISION_DENY,
      reasonCode,
      reason,
      allowedRegions: [],
      policyId: policy?.policyId ?? '',
      policyVersion: policy?.version ?? 0,
    });
    const policy = await this.getPolicy(request.tenantId);
    if (!policy) return deny('no_policy', 'this tenant has no policy: every model is denied');
    if (!policy.allowedModels.includes('*') && !policy.allowedModels.includes(request.model)) {
      return deny('model_not_allowed', `model ${request.model} is not allowed for this tenant`, policy);
    }
    return {
      decision: policyV1.Decision.DECISION_ALLOW,
      reasonCode: 'allowed',
      reason: '',
      allowedRegions: policy.allowedRegions,
      policyId: policy.policyId,
      policyVersion: policy.version,
    };
  }

  onModuleDestroy(): void {
    clearInterval(this.flushTimer);
  }

  /** Applies a change announced by another replica of this service. */
  invalidate(change: ConfigChangedV1): void {
    if (change.kind === 'api_key' && change.keyHash) this.principalCache.delete(change.keyHash);
    if (change.kind === 'policy') this.policyCache.delete(change.tenantId);
  }

  private remember<V>(cache: Map<string, V>, key: string, value: V): void {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, value);
  }
}

/** Postgres unique_violation: a concurrent writer inserted the same key first. */
function isUniqueViolation(err: unknown): boolean {
  return err instanceof QueryFailedError && (err.driverError as { code?: string } | undefined)?.code === '23505';
}
