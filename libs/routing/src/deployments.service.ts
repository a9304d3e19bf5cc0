import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { routingV1 } from '@asc/contracts';
import { ALL_TENANTS, CONFIG_CHANGE_PUBLISHER, ConfigChangedV1, EventPublisher, publishConfigChange } from '@asc/events';
import { CreateDeploymentInput, UpdateDeploymentInput } from './deployment.schemas';
import { DeploymentEntity, DeploymentTimeouts, Provider } from './entities/deployment.entity';
import { RoutingError } from './routing.error';

export const ROUTING_DATA_SOURCE = Symbol('ROUTING_DATA_SOURCE');

const newId = (prefix: string) => `${prefix}_${randomBytes(10).toString('hex')}`;

/** How many plans this service keeps in memory. */
const CACHE_LIMIT = 10_000;
const DEFAULT_WEIGHT = 100;
const DEFAULT_PRIORITY = 100;

/** A deployment as the admin API shows it. */
export interface DeploymentView {
  id: string;
  tenantId: string | null;
  model: string;
  provider: Provider;
  upstreamModel: string;
  region: string;
  baseUrl: string;
  credentialId: string | null;
  price: routingV1.Price;
  weight: number;
  priority: number;
  enabled: boolean;
  operations: string[] | null;
  timeouts: DeploymentTimeouts | null;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Provider deployments and route plans. Plans are served from a bounded in-memory cache
 * keyed by (tenant, model, regions); every write through this service bumps the config
 * version and empties the cache.
 */
@Injectable()
export class DeploymentsService implements OnModuleDestroy {
  private readonly deployments: Repository<DeploymentEntity>;
  private readonly planCache = new Map<string, routingV1.PlanResponse>();
  /** Models with at least one enabled deployment: unknown names never reach the database or the cache. */
  private knownModels: Promise<Set<string>> | undefined;
  private configVersion: number | undefined;
  /** Bumped on every write, so a read that raced a write does not cache what it read. */
  private generation = 0;
  /** Backstop for a change event that never arrived (another replica's write, log outage). */
  private readonly flushTimer = setInterval(() => this.dropCaches(), 30_000).unref();

  constructor(
    @Inject(ROUTING_DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(CONFIG_CHANGE_PUBLISHER) private readonly events: EventPublisher | null,
  ) {
    this.deployments = dataSource.getRepository(DeploymentEntity);
  }

  async create(input: CreateDeploymentInput): Promise<DeploymentView> {
    const saved = await this.write('deployment.create', (manager) =>
      manager.getRepository(DeploymentEntity).save(
        this.deployments.create({
          id: newId('dep'),
          tenantId: input.tenantId ?? null,
          model: input.model,
          provider: input.provider,
          upstreamModel: input.upstreamModel,
          region: input.region,
          baseUrl: input.baseUrl,
          credentialId: input.credentialId ?? null,
          inputPerMtokUsd: input.price.inputPerMtokUsd,
          outputPerMtokUsd: input.price.outputPerMtokUsd,
          cachedInputPerMtokUsd: input.price.cachedInputPerMtokUsd ?? input.price.inputPerMtokUsd,
          weight: input.weight ?? DEFAULT_WEIGHT,
          priority: input.priority ?? DEFAULT_PRIORITY,
          enabled: input.enabled ?? true,
          operations: input.operations ?? null,
          timeouts: input.timeouts ?? null,
        }),
      ),
    );
    this.announce(saved);
    return toView(saved);
  }

  /** Every deployment, or only those owned by one tenant (platform ones have no tenant). */
  async list(filter: { tenantId?: string } = {}): Promise<DeploymentView[]> {
    const rows = await this.deployments.find({
      where: filter.tenantId === undefined ? {} : { tenantId: filter.tenantId },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
    return rows.map(toView);
  }

  async get(id: string): Promise<DeploymentView> {
    return toView(await this.find(this.deployments, id));
  }

  async update(id: string, patch: UpdateDeploymentInput): Promise<DeploymentView> {
    const saved = await this.write(patch.enabled === false && Object.keys(patch).length === 1 ? 'deployment.disable' : 'deployment.update', async (manager) => {
      const repo = manager.getRepository(DeploymentEntity);
      const current = await this.find(repo, id, true);
      if (patch.enabled !== undefined) current.enabled = patch.enabled;
      if (patch.weight !== undefined) current.weight = patch.weight;
      if (patch.priority !== undefined) current.priority = patch.priority;
      if (patch.operations !== undefined) current.operations = patch.operations;
      if (patch.timeouts !== undefined) current.timeouts = patch.timeouts;
      if (patch.price?.inputPerMtokUsd !== undefined) current.inputPerMtokUsd = patch.price.inputPerMtokUsd;
      if (patch.price?.outputPerMtokUsd !== undefined) current.outputPerMtokUsd = patch.price.outputPerMtokUsd;
      if (patch.price?.cachedInputPerMtokUsd !== undefined) current.cachedInputPerMtokUsd = patch.price.cachedInputPerMtokUsd;
      return repo.save(current);
    });
    this.announce(saved);
    return toView(saved);
  }

  onModuleDestroy(): void {
    clearInterval(this.flushTimer);
  }

  /** Applies a change announced by another replica of this service. */
  invalidate(change: ConfigChangedV1): void {
    if (change.kind === 'deployment') this.dropCaches();
  }

  private dropCaches(): void {
    this.generation++;
    this.planCache.clear();
    this.knownModels = undefined;
    this.configVersion = undefined;
  }

  /** Tells every ingress to drop the plans this deployment may appear in. */
  private announce(deployment: DeploymentEntity): void {
    publishConfigChange(this.events, 'asc-routing', { tenantId: deployment.tenantId ?? ALL_TENANTS, kind: 'deployment', entityId: deployment.id });
  }

  /** Kept routing configuration versions, newest first. */
  async listVersions(options: { limit: number; before?: number }): Promise<RoutingVersionSummary[]> {
    const rows: Array<{ version: string; created_at: Date; change: string; deployments: string }> = await this.dataSource.query(
      `SELECT version, created_at, change, jsonb_array_length(deployments) AS deployments FROM routing.config_versions
        WHERE ($1::bigint IS NULL OR version < $1) ORDER BY version DESC LIMIT $2`,
      [options.before ?? null, options.limit],
    );
    return rows.map((r) => ({ version: Number(r.version), createdAt: new Date(r.created_at).toISOString(), change: r.change, deployments: Number(r.deployments) }));
  }

  /** One kept version: every deployment as it was (only the tenant's own and the platform's with tenantId). */
  async getVersion(version: number, tenantId?: string): Promise<RoutingVersion> {
    const rows: Array<{ version: string; created_at: Date; change: string; deployments: SnapshotRow[] }> = await this.dataSource.query(
      'SELECT version, created_at, change, deployments FROM routing.config_versions WHERE version = $1',
      [version],
    );
    if (!rows.length) throw new RoutingError('version_not_found', `routing config version ${version} not found`, 404, 'version');
    const deployments = rows[0].deployments.map(snapshotToView).filter((d) => tenantId === undefined || d.tenantId === null || d.tenantId === tenantId);
    return { version: Number(rows[0].version), createdAt: new Date(rows[0].created_at).toISOString(), change: rows[0].change, deployments };
  }

  /** What changed from one version to another: deployments added, removed, and changed field by field. */
  async diffVersions(from: number, to: number, tenantId?: string): Promise<RoutingVersionDiff> {
    const [a, b] = [await this.getVersion(from, tenantId), await this.getVersion(to, tenantId)];
    const before = new Map(a.deployments.map((d) => [d.id, d]));
    const after = new Map(b.deployments.map((d) => [d.id, d]));
    const changed: RoutingVersionDiff['changed'] = [];
    for (const [id, next] of after) {
      const prev = before.get(id);
      if (!prev) continue;
      const fields: Record<string, { from: unknown; to: unknown }> = {};
      for (const [field, value] of Object.entries(flattenView(next))) {
        const old = flattenView(prev)[field];
        if (old !== value) fields[field] = { from: old, to: value };
      }
      if (Object.keys(fields).length) changed.push({ id, fields });
    }
    return {
      from,
      to,
      added: b.deployments.filter((d) => !before.has(d.id)),
      removed: a.deployments.filter((d) => !after.has(d.id)),
      changed,
    };
  }

  /**
   * Restores the deployments of `version` (routing fields, prices, enabled) as a new
   * version; deployments created since are disabled, never deleted (audit records name them).
   */
  async rollback(version: number): Promise<RoutingVersion> {
    const target = await this.getVersion(version);
    await this.write(`rollback:${version}`, async (manager) => {
      const snapshot: Array<{ deployments: SnapshotRow[] }> = await manager.query('SELECT deployments FROM routing.config_versions WHERE version = $1', [version]);
      await manager.query(
        `UPDATE routing.deployments d
            SET enabled = s.enabled, weight = s.weight, priority = s.priority, region = s.region, base_url = s.base_url,
                upstream_model = s.upstream_model, credential_id = s.credential_id, input_per_mtok_usd = s.input_per_mtok_usd,
                output_per_mtok_usd = s.output_per_mtok_usd, cached_input_per_mtok_usd = s.cached_input_per_mtok_usd,
                operations = s.operations, timeouts = s.timeouts, updated_at = now()
           FROM jsonb_populate_recordset(NULL::routing.deployments, $1::jsonb) s
          WHERE d.id = s.id`,
        [JSON.stringify(snapshot[0].deployments)],
      );
      await manager.query('UPDATE routing.deployments SET enabled = false, updated_at = now() WHERE enabled AND NOT (id = ANY($1::text[]))', [target.deployments.map((d) => d.id)]);
    });
    publishConfigChange(this.events, 'asc-routing', { tenantId: ALL_TENANTS, kind: 'deployment', entityId: `rollback:${version}` });
    const [latest] = await this.listVersions({ limit: 1 });
    return this.getVersion(latest.version);
  }

  /** Deployments are never deleted: audit records reference them. */
  disable(id: string): Promise<DeploymentView> {
    return this.update(id, { enabled: false });
  }

  /**
   * The ordered deployments that may serve `model` for `tenantId` in `allowedRegions`:
   * the tenant's own first, then by priority (lower first), weight (higher first) and id.
   * An empty region list allows nothing (default deny); "*" allows every region.
   */
  async plan(request: routingV1.PlanRequest): Promise<routingV1.PlanResponse> {
    if (!request.tenantId) throw new RoutingError('invalid_request', 'tenant_id is required', 400, 'tenant_id');
    if (!request.model) throw new RoutingError('invalid_request', 'model is required', 400, 'model');
    const generation = this.generation;
    const configVersion = await this.currentConfigVersion();
    const anyRegion = request.allowedRegions.includes('*');
    const regions = anyRegion ? ['*'] : [...new Set(request.allowedRegions)].sort();
    if (regions.length === 0) return { deployments: [], configVersion };
    if (!(await this.loadKnownModels()).has(request.model)) return { deployments: [], configVersion };

    // JSON, not a joined string: region names come from policy and may contain any separator.
    const key = JSON.stringify([request.tenantId, request.model, regions]);
    const cached = this.planCache.get(key);
    if (cached) return cached;
    const rows: DeploymentRow[] = await this.deployments.query(
      `SELECT id, provider, upstream_model, region, base_url, credential_id, weight, priority, operations, timeouts,
              (tenant_id IS NOT NULL) AS tenant_owned, input_per_mtok_usd, output_per_mtok_usd, cached_input_per_mtok_usd
         FROM routing.deployments
        WHERE enabled AND model = $1 AND (tenant_id IS NULL OR tenant_id = $2)
          AND ($3::boolean OR region = ANY($4::text[]))
        ORDER BY (tenant_id IS NULL), priority, weight DESC, id`,
      [request.model, request.tenantId, anyRegion, regions],
    );
    const response: routingV1.PlanResponse = { deployments: rows.map(rowToProto), configVersion };
    if (generation === this.generation) this.remember(key, response);
    return response;
  }

  /**
   * The model names `tenantId` can be routed to in `allowedRegions` (its own aliases and the
   * platform's models), with the providers behind each. Policy decides which of them a
   * caller may use; this only answers what exists.
   */
  async listModels(request: routingV1.ListModelsRequest): Promise<routingV1.ListModelsResponse> {
    if (!request.tenantId) throw new RoutingError('invalid_request', 'tenant_id is required', 400, 'tenant_id');
    const configVersion = await this.currentConfigVersion();
    const anyRegion = request.allowedRegions.includes('*');
    if (!anyRegion && request.allowedRegions.length === 0) return { models: [], configVersion };
    const rows: Array<{ model: string; tenant_owned: boolean; providers: string[]; regions: string[]; created_unix: string }> = await this.deployments.query(
      `SELECT model, bool_or(tenant_id IS NOT NULL) AS tenant_owned,
              array_agg(DISTINCT provider ORDER BY provider) AS providers,
              array_agg(DISTINCT region ORDER BY region) AS regions,
              floor(extract(epoch FROM min(created_at)))::bigint AS created_unix
         FROM routing.deployments
        WHERE enabled AND (tenant_id IS NULL OR tenant_id = $1)
          AND ($2::boolean OR region = ANY($3::text[]))
        GROUP BY model
        ORDER BY model`,
      [request.tenantId, anyRegion, request.allowedRegions],
    );
    return {
      models: rows.map((r) => ({ model: r.model, tenantOwned: r.tenant_owned, providers: r.providers, regions: r.regions, createdUnix: Number(r.created_unix) })),
      configVersion,
    };
  }

  private async find(repo: Repository<DeploymentEntity>, id: string, forUpdate = false): Promise<DeploymentEntity> {
    const found = await repo.findOne({ where: { id }, lock: forUpdate ? { mode: 'pessimistic_write' } : undefined });
    if (!found) throw new RoutingError('deployment_not_found', `deployment ${id} not found`, 404);
    return found;
  }

  /**
   * Runs one write and bumps the config version in the same transaction, keeping a snapshot
   * of every deployment under the new version (versions are never deleted), then drops
   * cached plans.
   */
  private async write<T>(change: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    this.generation++;
    try {
      const { value, version } = await this.dataSource.transaction(async (manager) => {
        const value = await work(manager);
        const rows: Array<{ version: string }> = await manager.query(
          `WITH bumped AS (UPDATE routing.config_state SET version = version + 1 RETURNING version) SELECT version FROM bumped`,
        );
        await manager.query(
          `INSERT INTO routing.config_versions (version, change, deployments)
           SELECT $1, $2, COALESCE(jsonb_agg(to_jsonb(d) ORDER BY d.id), '[]'::jsonb) FROM routing.deployments d`,
          [rows[0].version, change],
        );
        return { value, version: Number(rows[0].version) };
      });
      this.configVersion = Math.max(this.configVersion ?? 0, version);
      return value;
    } finally {
      this.generation++;
      this.planCache.clear();
      this.knownModels = undefined;
    }
  }

  private async currentConfigVersion(): Promise<number> {
    if (this.configVersion !== undefined) return this.configVersion;
    const rows: Array<{ version: string }> = await this.deployments.query(`SELECT version FROM routing.config_state`);
    const version = Number(rows[0]?.version ?? 0);
    this.configVersion = Math.max(this.configVersion ?? 0, version);
    return this.configVersion;
  }

  private loadKnownModels(): Promise<Set<string>> {
    if (!this.knownModels) {
      const loading = this.deployments
        .query(`SELECT DISTINCT model FROM routing.deployments WHERE enabled`)
        .then((rows: Array<{ model: string }>) => new Set(rows.map((r) => r.model)));
      // A failed load is not remembered: the next plan retries.
      loading.catch(() => {
        if (this.knownModels === loading) this.knownModels = undefined;
      });
      this.knownModels = loading;
    }
    return this.knownModels;
  }

  private remember(key: string, value: routingV1.PlanResponse): void {
    if (this.planCache.size >= CACHE_LIMIT) this.planCache.clear();
    this.planCache.set(key, value);
  }
}

export interface RoutingVersionSummary {
  version: number;
  createdAt: string;
  /** What made it: 'deployment.create', 'deployment.update', 'deployment.disable', 'rollback:N', 'initial'. */
  change: string;
  deployments: number;
}

export interface RoutingVersion {
  version: number;
  createdAt: string;
  change: string;
  deployments: DeploymentView[];
}

export interface RoutingVersionDiff {
  from: number;
  to: number;
  added: DeploymentView[];
  removed: DeploymentView[];
  changed: Array<{ id: string; fields: Record<string, { from: unknown; to: unknown }> }>;
}

/** A deployments row as to_jsonb wrote it into a version snapshot. */
interface SnapshotRow {
  id: string;
  tenant_id: string | null;
  model: string;
  provider: Provider;
  upstream_model: string;
  region: string;
  base_url: string;
  credential_id: string | null;
  input_per_mtok_usd: number | string;
  output_per_mtok_usd: number | string;
  cached_input_per_mtok_usd: number | string;
  weight: number;
  priority: number;
  enabled: boolean;
  /** Absent in snapshots taken before the column existed. */
  operations?: string[] | null;
  timeouts?: DeploymentTimeouts | null;
  created_at: string;
  updated_at: string;
}

function snapshotToView(r: SnapshotRow): DeploymentView {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    model: r.model,
    provider: r.provider,
    upstreamModel: r.upstream_model,
    region: r.region,
    baseUrl: r.base_url,
    credentialId: r.credential_id,
    price: { inputPerMtokUsd: Number(r.input_per_mtok_usd), outputPerMtokUsd: Number(r.output_per_mtok_usd), cachedInputPerMtokUsd: Number(r.cached_input_per_mtok_usd) },
    weight: r.weight,
    priority: r.priority,
    enabled: r.enabled,
    operations: r.operations ?? null,
    timeouts: r.timeouts ?? null,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

/** The fields a diff compares (updatedAt always moves; it is not a routing change). */
function flattenView(d: DeploymentView): Record<string, unknown> {
  return {
    tenantId: d.tenantId, model: d.model, provider: d.provider, upstreamModel: d.upstreamModel, region: d.region, baseUrl: d.baseUrl,
    credentialId: d.credentialId, 'price.inputPerMtokUsd': d.price.inputPerMtokUsd, 'price.outputPerMtokUsd': d.price.outputPerMtokUsd,
    'price.cachedInputPerMtokUsd': d.price.cachedInputPerMtokUsd, weight: d.weight, priority: d.priority, enabled: d.enabled,
    operations: d.operations?.join(',') ?? null, timeouts: d.timeouts ? JSON.stringify(d.timeouts) : null,
  };
}

interface DeploymentRow {
  id: string;
  provider: string;
  upstream_model: string;
  region: string;
  base_url: string;
  credential_id: string | null;
  weight: number;
  priority: number;
  operations: string[] | null;
  timeouts: DeploymentTimeouts | null;
  tenant_owned: boolean;
  input_per_mtok_usd: string;
  output_per_mtok_usd: string;
  cached_input_per_mtok_usd: string;
}

function rowToProto(row: DeploymentRow): routingV1.Deployment {
  return {
    id: row.id,
    provider: row.provider,
    upstreamModel: row.upstream_model,
    region: row.region,
    baseUrl: row.base_url,
    credentialId: row.credential_id ?? '',
    price: {
      inputPerMtokUsd: Number(row.input_per_mtok_usd),
      outputPerMtokUsd: Number(row.output_per_mtok_usd),
      cachedInputPerMtokUsd: Number(row.cached_input_per_mtok_usd),
    },
    weight: row.weight,
    priority: row.priority,
    operations: row.operations ?? [],
    timeouts: row.timeouts
      ? { connectMs: row.timeouts.connectMs ?? 0, ttftMs: row.timeouts.ttftMs ?? 0, idleMs: row.timeouts.idleMs ?? 0, totalMs: row.timeouts.totalMs ?? 0 }
      : undefined,
    tenantOwned: row.tenant_owned,
  };
}

function toView(entity: DeploymentEntity): DeploymentView {
  return {
    id: entity.id,
    tenantId: entity.tenantId,
    model: entity.model,
    provider: entity.provider,
    upstreamModel: entity.upstreamModel,
    region: entity.region,
    baseUrl: entity.baseUrl,
    credentialId: entity.credentialId,
    price: {
      inputPerMtokUsd: entity.inputPerMtokUsd,
      outputPerMtokUsd: entity.outputPerMtokUsd,
      cachedInputPerMtokUsd: entity.cachedInputPerMtokUsd,
    },
    weight: entity.weight,
    priority: entity.priority,
    enabled: entity.enabled,
    operations: entity.operations,
    timeouts: entity.timeouts,
    createdAt: entity.createdAt,
    updatedAt: entity.updatedAt,
  };
}
