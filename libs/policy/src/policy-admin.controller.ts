import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { CONFIG_CHANGE_PUBLISHER, EventPublisher, publishAdminChange } from '@asc/events';
import { AdminCaller, AdminGuard, Caller } from '@asc/service-kit';
import { IMPORTED_KEY_RULE, isStrongApiKey } from '@asc/tenancy';
import { TenancyService } from './tenancy.service';

const createTenant = z.object({ id: z.string().optional(), name: z.string().min(1).max(200) }).strict();
const createApp = z.object({ name: z.string().min(1).max(200) }).strict();
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
  })
  .strict();
const putPolicy = z
  .object({
    allowedModels: z.array(z.string().min(1)).max(1000),
    allowedRegions: z.array(z.string().min(1)).min(1).max(100),
  })
  .strict();

/** Operator API for tenants, apps, keys and policies (behind the admin token). */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class PolicyAdminController {
  constructor(
    private readonly tenancy: TenancyService,
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

  @Post('tenants/:tenantId/keys')
  async createKey(@Param('tenantId') tenantId: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    const input = createKey.parse(body ?? {});
    const key = await this.tenancy.createApiKey(tenantId, input.appId, input.scopes, input.key);
    // The key itself is redacted by publishAdminChange (field `key`).
    publishAdminChange(this.events, 'asc-policy', { ...caller, tenantId, action: 'api_key.create', targetType: 'api_key', targetId: key.id, after: { ...key, appId: input.appId, scopes: input.scopes, imported: Boolean(input.key) } });
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
  async putPolicy(@Param('tenantId') tenantId: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    const input = putPolicy.parse(body ?? {});
    const before = await this.tenancy.getPolicy(tenantId);
    const after = await this.tenancy.setPolicy(tenantId, input);
    publishAdminChange(this.events, 'asc-policy', { ...caller, tenantId, action: 'policy.update', targetType: 'policy', targetId: tenantId, before, after });
    return after;
  }

  @Get('tenants/:tenantId/policy')
  getPolicy(@Param('tenantId') tenantId: string) {
    return this.tenancy.getPolicy(tenantId);
  }
}
