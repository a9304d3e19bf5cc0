import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource, QueryFailedError, Repository } from 'typeorm';
import { policyV1 } from '@asc/contracts';
import { CONFIG_CHANGE_PUBLISHER, ConfigChangedV1, EventPublisher, publishConfigChange } from '@asc/events';
import { apiKeyDisplayPrefix, generateApiKey, hashApiKey } from '@asc/tenancy';
import { ApiKeyEntity } from './entities/api-key.entity';
import { AppEntity } from './entities/app.entity';
import { TenantEntity } from './entities/tenant.entity';
import { PolicyError } from './policy.error';
import { POLICY_DATA_SOURCE } from './policy-versions.service';


const TENANT_ID = /^[a-z0-9][a-z0-9_-]{1,62}$/;
const newId = (prefix: string) => `${prefix}_${randomBytes(10).toString('hex')}`;

/** Bound on each read cache of this service. */
const CACHE_LIMIT = 50_000;
/** The read caches are emptied this often, whatever the change events say. */
const CACHE_MAX_AGE_MS = 30_000;

/**
 * Tenants, apps and API keys. The key lookup on the request path is served from a bounded
 * in-memory map that every write through this service invalidates. Policies live in
 * PolicyVersionsService.
 */
@Injectable()
export class TenancyService implements OnModuleDestroy {
  private readonly tenants: Repository<TenantEntity>;
  private readonly apps: Repository<AppEntity>;
  private readonly keys: Repository<ApiKeyEntity>;
  /** Key digest → answer and the key's expiry (checked on every read: a cached key still expires on time). */
  private readonly principalCache = new Map<string, { response: policyV1.AuthenticateKeyResponse; expiresAtMs: number }>();
  /** Backstop for a change event that never arrived (another replica's write, log outage). */
  private readonly flushTimer = setInterval(() => {
    this.principalCache.clear();
  }, CACHE_MAX_AGE_MS).unref();

  constructor(
    @Inject(POLICY_DATA_SOURCE) dataSource: DataSource,
    @Inject(CONFIG_CHANGE_PUBLISHER) private readonly events: EventPublisher | null,
  ) {
    this.tenants = dataSource.getRepository(TenantEntity);
    this.apps = dataSource.getRepository(AppEntity);
    this.keys = dataSource.getRepository(ApiKeyEntity);
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

  async listApps(tenantId: string): Promise<AppEntity[]> {
    await this.getTenant(tenantId);
    return this.apps.find({ where: { tenantId }, order: { createdAt: 'ASC' } });
  }

  async getApp(tenantId: string, appId: string): Promise<AppEntity> {
    const app = await this.apps.findOneBy({ id: appId, tenantId });
    if (!app) throw new PolicyError('app_not_found', `app ${appId} not found for tenant ${tenantId}`, 404);
    return app;
  }

  /** Creates a key and returns it once; only its digest is stored. */
  async createApiKey(
    tenantId: string,
    appId: string,
    scopes: string[],
    presetKey?: string,
    restrictions: { models?: string[]; operations?: string[]; expiresAt?: Date | null } = {},
  ): Promise<{ id: string; key: string; displayPrefix: string; models: string[]; operations: string[]; expiresAt: Date | null }> {
    const app = await this.apps.findOneBy({ id: appId, tenantId });
    if (!app) throw new PolicyError('app_not_found', `app ${appId} not found for tenant ${tenantId}`, 404, 'appId');
    const key = presetKey ?? generateApiKey();
    const keyHash = hashApiKey(key);
    if (await this.keys.existsBy({ keyHash })) throw new PolicyError('key_exists', 'this key is already registered', 409);
    const entity = await this.keys
      .save(
        this.keys.create({ id: newId('key'), tenantId, appId, keyHash, displayPrefix: apiKeyDisplayPrefix(key), scopes,
          modelScopes: restrictions.models ?? [],
          operationScopes: restrictions.operations ?? [],
          expiresAt: restrictions.expiresAt ?? null,
          status: 'active',
          revokedAt: null,
        }),
      )
      .catch((err: unknown) => {
        throw isUniqueViolation(err) ? new PolicyError('key_exists', 'this key is already registered', 409) : err;
      });
    return { id: entity.id, key, displayPrefix: entity.displayPrefix, models: entity.modelScopes, operations: entity.operationScopes, expiresAt: entity.expiresAt };
  }

  async listApiKeys(tenantId: string): Promise<Array<Omit<ApiKeyEntity, 'keyHash'>>> {
    const keys = await this.keys.find({ where: { tenantId }, order: { createdAt: 'ASC' } });
    return keys.map(({ keyHash: _hidden, ...rest }) => rest);
  }

  async getApiKey(tenantId: string, keyId: string): Promise<Omit<ApiKeyEntity, 'keyHash'>> {
    const key = await this.keys.findOneBy({ id: keyId, tenantId });
    if (!key) throw new PolicyError('key_not_found', `key ${keyId} not found for tenant ${tenantId}`, 404);
    const { keyHash: _hidden, ...rest } = key;
    return rest;
  }

  async revokeApiKey(tenantId: string, keyId: string): Promise<void> {
    const key = await this.keys.findOneBy({ id: keyId, tenantId });
    if (!key) throw new PolicyError('key_not_found', `key ${keyId} not found for tenant ${tenantId}`, 404);
    await this.keys.update({ id: keyId }, { status: 'revoked', revokedAt: new Date() });
    this.principalCache.delete(key.keyHash);
    publishConfigChange(this.events, 'asc-policy', { tenantId, kind: 'api_key', entityId: keyId, keyHash: key.keyHash });
  }

  async authenticate(keyHash: string): Promise<policyV1.AuthenticateKeyResponse> {
    const cached = this.principalCache.get(keyHash);
    if (cached) return expire(cached.response, cached.expiresAtMs);
    const rows: Array<{
      id: string;
      tenant_id: string;
      app_id: string;
      scopes: string[];
      model_scopes: string[];
      operation_scopes: string[];
      expires_at: Date | null;
      status: string;
      tenant_status: string;
    }> = await this.keys.query(
        `SELECT k.id, k.tenant_id, k.app_id, k.scopes, k.model_scopes, k.operation_scopes, k.expires_at, k.status, t.status AS tenant_status
           FROM policy.api_keys k JOIN policy.tenants t ON t.id = k.tenant_id
          WHERE k.key_hash = $1`,
        [keyHash],
      );
    const row = rows[0];
    let result: policyV1.AuthenticateKeyResponse;
    const expiresAtMs = row?.expires_at ? row.expires_at.getTime() : 0;
    if (!row) result = { found: false, principal: undefined, reason: 'unknown', expiredAtMs: 0 };
    else if (row.status !== 'active') result = { found: false, principal: undefined, reason: 'revoked', expiredAtMs: 0 };
    else if (row.tenant_status !== 'active') result = { found: false, principal: undefined, reason: 'tenant_disabled', expiredAtMs: 0 };
    else {
      result = {
        found: true,
        principal: {
          tenantId: row.tenant_id,
          appId: row.app_id,
          keyId: row.id,
          scopes: row.scopes,
          modelScopes: row.model_scopes,
          operationScopes: row.operation_scopes,
          expiresAtMs,
        },
        reason: '',
        expiredAtMs: 0,
      };
    }
    // Unknown digests are not cached: a flood of random keys must not evict real ones.
    if (row) this.remember(this.principalCache, keyHash, { response: result, expiresAtMs });
    return expire(result, expiresAtMs);
  }

  onModuleDestroy(): void {
    clearInterval(this.flushTimer);
  }

  /** Applies a change announced by another replica of this service. */
  invalidate(change: ConfigChangedV1): void {
    if (change.kind === 'api_key' && change.keyHash) this.principalCache.delete(change.keyHash);
  }

  private remember<V>(cache: Map<string, V>, key: string, value: V): void {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, value);
  }
}

/** A key past its expiry is refused with reason "expired" and the instant it expired. */
export function expire(response: policyV1.AuthenticateKeyResponse, expiresAtMs: number, nowMs = Date.now()): policyV1.AuthenticateKeyResponse {
  if (!response.found || !expiresAtMs || nowMs < expiresAtMs) return response;
  return { found: false, principal: undefined, reason: 'expired', expiredAtMs: expiresAtMs };
}

/** Postgres unique_violation: a concurrent writer inserted the same key first. */
function isUniqueViolation(err: unknown): boolean {
  return err instanceof QueryFailedError && (err.driverError as { code?: string } | undefined)?.code === '23505';
}
