import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { CONFIG_CHANGE_PUBLISHER, EventPublisher, publishAdminChange } from '@asc/events';
import { AdminCaller, AdminGuard, Caller } from '@asc/service-kit';
import { IMPORTED_KEY_RULE, isStrongApiKey } from '@asc/tenancy';
import { BudgetStatusService } from './budget-status.service';
import { expectedVersion, PolicyScope } from './policy-document';
import { PolicyVersionsService } from './policy-versions.service';
import { TenancyService } from './tenancy.service';

const createTenant = z.object({ id: z.string().optional(), name: z.string().min(1).max(200) }).strict();
const createApp = z.object({ name: z.string().min(1).max(200) }).strict();
const OPERATION = /^[a-z][a-z0-9_.]{0,63}$/;
const createKey = z
  .object({
    appId: z.string().min(1),
    scopes: z.array(z.string()).default(['inference']),
    /** Imports an existing key (e.g. when migrating from another gateway) instead of generating one. */
    key: z
      .string()
      .regex(/^[A-Za-z0-9_\-.~+/=]{8,256}$/, 'must be 8-256 characters without spaces')
      .refine(isStrongApiKey, IMPORTED_KEY_RULE)
      .optional(),
    /** Models this key may call (omitted or empty: whatever its app and tenant allow). */
    models: z.array(z.string().min(1).max(200)).max(1000).optional(),
    /** Operations this key may call, e.g. ["chat.completions"] (omitted or empty: any the policy allows). */
    operations: z.array(z.string().regex(OPERATION, 'must be an operation name such as "chat.completions"')).max(50).optional(),
    /** ISO 8601 instant after which the key is refused (401 "the API key expired at …"). */
    expiresAt: z
      .string()
      .datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z' })
      .optional(),
  })
  .strict();
/** A PUT body: the policy document, plus `expectedVersion` to refuse a concurrent overwrite (409). */
const putBody = z.object({ expectedVersion }).passthrough();
const versionParam = z.coerce.number().int().positive();
const listQuery = z
  .object({ scope: z.enum(['tenant', 'app', 'key']).optional(), scopeId: z.string().optional() })
  .strict();
const diffQuery = z.object({ from: versionParam, to: versionParam }).strict();
const rollbackBody = z.object({ expectedVersion }).strict();
const ID = /^[A-Za-z0-9_-]{1,128}$/;
const budgetPath = z.object({
  tenantId: z.string().regex(ID, 'must be a tenant id'),
  appId: z.string().regex(ID, 'must be an app id').optional(),
  keyId: z.string().regex(ID, 'must be a key id').optional(),
});
const budgetQuery = z
  .object({
    /** Any instant of the period to show (counters are kept two days past their period); default now. */
    at: z.string().datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2026-11-30T12:00:00Z' }).optional(),
  })
  .strict();

function splitPut(body: unknown): { document: Record<string, unknown>; expected?: number } {
  const { expectedVersion: expected, ...document } = putBody.parse(body ?? {});
  return { document, expected };
}

/** Operator API for tenants, apps, keys and their versioned policies (behind the admin token). */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class PolicyAdminController {
  constructor(
    private readonly tenancy: TenancyService,
    private readonly policies: PolicyVersionsService,
    private readonly budgets: BudgetStatusService,
    @Inject(CONFIG_CHANGE_PUBLISHER) private readonly events: EventPublisher | null,
  ) {}

  @Post('tenants')
  async createTenant(@Body() body: unknown, @Caller() caller: AdminCaller) {
    const tenant = await this.tenancy.createTenant(createTenant.parse(body ?? {}));
    publishAdminChange(this.events, 'asc-policy', { ...caller, tenantId: tenant.id, action: 'tenant.create', targetType: 'tenant', targetId: tenant.id, after: tenant });
    return tenant;
  }

  @Get('tenants/:tenantId')
  getTenant(@Param('tenantId') tenantId: string) {
    return this.tenancy.getTenant(tenantId);
  }

  @Post('tenants/:tenantId/apps')
  async createApp(@Param('tenantId') tenantId: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    const app = await this.tenancy.createApp(tenantId, createApp.parse(body ?? {}).name);
    publishAdminChange(this.events, 'asc-policy', { ...caller, tenantId, action: 'app.create', targetType: 'app', targetId: app.id, after: app });
    return app;
  }

  @Get('tenants/:tenantId/apps')
  listApps(@Param('tenantId') tenantId: string) {
    return this.tenancy.listApps(tenantId);
  }

  @Get('tenants/:tenantId/apps/:appId')
  getApp(@Param('tenantId') tenantId: string, @Param('appId') appId: string) {
    return this.tenancy.getApp(tenantId, appId);
  }

  @Post('tenants/:tenantId/keys')
  async createKey(@Param('tenantId') tenantId: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    const input = createKey.parse(body ?? {});
    const key = await this.tenancy.createApiKey(tenantId, input.appId, input.scopes, input.key, {
      models: input.models,
      operations: input.operations,
      expiresAt: input.expiresAt ? new Date(input.expiresAt) : null,
    });
    // The key itself is redacted by publishAdminChange (field `key`).
    publishAdminChange(this.events, 'asc-policy', {
      ...caller,
      tenantId,
      action: 'api_key.create',
      targetType: 'api_key',
      targetId: key.id,
      after: { ...key, appId: input.appId, scopes: input.scopes, models: input.models ?? null, operations: input.operations ?? null, expiresAt: input.expiresAt ?? null, imported: Boolean(input.key) },
    });
    return key;
  }

  @Get('tenants/:tenantId/keys')
  listKeys(@Param('tenantId') tenantId: string) {
    return this.tenancy.listApiKeys(tenantId);
  }

  @Post('tenants/:tenantId/keys/:keyId/revoke')
  @HttpCode(200)
  async revokeKey(@Param('tenantId') tenantId: string, @Param('keyId') keyId: string, @Caller() caller: AdminCaller) {
    await this.tenancy.revokeApiKey(tenantId, keyId);
    publishAdminChange(this.events, 'asc-policy', { ...caller, tenantId, action: 'api_key.revoke', targetType: 'api_key', targetId: keyId, after: { id: keyId, status: 'revoked' } });
    return { id: keyId, status: 'revoked' };
  }

  @Put('tenants/:tenantId/policy')
  putTenantPolicy(@Param('tenantId') tenantId: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    return this.put(tenantId, 'tenant', '', body, caller);
  }

  @Get('tenants/:tenantId/policy')
  getTenantPolicy(@Param('tenantId') tenantId: string) {
    return this.policies.current(tenantId, 'tenant', '');
  }

  @Put('tenants/:tenantId/apps/:appId/policy')
  putAppPolicy(@Param('tenantId') tenantId: string, @Param('appId') appId: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    return this.put(tenantId, 'app', appId, body, caller);
  }

  @Get('tenants/:tenantId/apps/:appId/policy')
  getAppPolicy(@Param('tenantId') tenantId: string, @Param('appId') appId: string) {
    return this.policies.current(tenantId, 'app', appId);
  }

  @Put('tenants/:tenantId/keys/:keyId/policy')
  putKeyPolicy(@Param('tenantId') tenantId: string, @Param('keyId') keyId: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    return this.put(tenantId, 'key', keyId, body, caller);
  }

  @Get('tenants/:tenantId/keys/:keyId/policy')
  getKeyPolicy(@Param('tenantId') tenantId: string, @Param('keyId') keyId: string) {
    return this.policies.current(tenantId, 'key', keyId);
  }

  /** The policy a key (or, without keyId, any key of the app) works under after narrowing. */
  @Get('tenants/:tenantId/apps/:appId/effective-policy')
  async effective(@Param('tenantId') tenantId: string, @Param('appId') appId: string, @Query() query: unknown) {
    const { keyId } = z.object({ keyId: z.string().min(1).optional() }).strict().parse(query ?? {});
    await this.tenancy.getApp(tenantId, appId);
    const effective = await this.policies.effective(tenantId, appId, keyId ?? '');
    return { tenantId, appId, keyId: keyId ?? null, policyId: effective.policyId, version: effective.version, policy: effective.policy };
  }

  /** Budget status of the tenant's own budgets: limit, period, spent, reserved, remaining, reset, thresholds reported. */
  @Get('tenants/:tenantId/budgets')
  tenantBudgets(@Param('tenantId') tenantId: string, @Query() query: unknown) {
    return this.budgetStatus({ tenantId }, query);
  }

  /** The app's budgets and the tenant's (both count every request of the app). */
  @Get('tenants/:tenantId/apps/:appId/budgets')
  appBudgets(@Param('tenantId') tenantId: string, @Param('appId') appId: string, @Query() query: unknown) {
    return this.budgetStatus({ tenantId, appId }, query);
  }

  /** Every budget a key's requests count against: the key's, its app's and the tenant's. */
  @Get('tenants/:tenantId/keys/:keyId/budgets')
  keyBudgets(@Param('tenantId') tenantId: string, @Param('keyId') keyId: string, @Query() query: unknown) {
    return this.budgetStatus({ tenantId, keyId }, query);
  }

  @Get('tenants/:tenantId/policy/versions')
  async listVersions(@Param('tenantId') tenantId: string, @Query() query: unknown) {
    await this.tenancy.getTenant(tenantId);
    return { tenantId, versions: await this.policies.list(tenantId, listQuery.parse(query ?? {})) };
  }

  @Get('tenants/:tenantId/policy/versions/:version')
  getVersion(@Param('tenantId') tenantId: string, @Param('version') version: string) {
    return this.policies.get(tenantId, parseVersion(version));
  }

  @Get('tenants/:tenantId/policy/diff')
  diff(@Param('tenantId') tenantId: string, @Query() query: unknown) {
    const { from, to } = diffQuery.parse(query ?? {});
    return this.policies.diff(tenantId, from, to);
  }

  /** Restores the document of `version` as a new version (history is never rewritten). */
  @Post('tenants/:tenantId/policy/versions/:version/rollback')
  @HttpCode(201)
  async rollback(@Param('tenantId') tenantId: string, @Param('version') version: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    const target = parseVersion(version);
    const after = await this.policies.rollback(tenantId, target, rollbackBody.parse(body ?? {}).expectedVersion);
    publishAdminChange(this.events, 'asc-policy', { ...caller, tenantId, action: 'policy.rollback', targetType: 'policy', targetId: `${tenantId}@${target}`, after: after });
    return after;
  }

  private budgetStatus(params: { tenantId: string; appId?: string; keyId?: string }, query: unknown) {
    const { tenantId, appId, keyId } = budgetPath.parse(params);
    const { at } = budgetQuery.parse(query ?? {});
    return this.budgets.status(tenantId, { appId, keyId }, at ? Date.parse(at) : Date.now());
  }

  private async put(tenantId: string, scope: PolicyScope, scopeId: string, body: unknown, caller: AdminCaller) {
    const { document, expected } = splitPut(body);
    const before = await this.policies.current(tenantId, scope, scopeId).catch(() => null);
    const after = await this.policies.put(tenantId, scope, scopeId, document, expected);
    publishAdminChange(this.events, 'asc-policy', {
      ...caller,
      tenantId,
      action: 'policy.update',
      targetType: `${scope}_policy`,
      targetId: scopeId || tenantId,
      before: before,
      after: after,
    });
    return after;
  }
}

function parseVersion(raw: string): number {
  return z.object({ version: versionParam }).parse({ version: raw }).version;
}
