import { Body, Controller, Get, HttpCode, Param, Post, Put, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { AdminGuard } from '@asc/service-kit';
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
  constructor(private readonly tenancy: TenancyService) {}

  @Post('tenants')
  createTenant(@Body() body: unknown) {
    return this.tenancy.createTenant(createTenant.parse(body ?? {}));
  }

  @Get('tenants/:tenantId')
  getTenant(@Param('tenantId') tenantId: string) {
    return this.tenancy.getTenant(tenantId);
  }

  @Post('tenants/:tenantId/apps')
  createApp(@Param('tenantId') tenantId: string, @Body() body: unknown) {
    return this.tenancy.createApp(tenantId, createApp.parse(body ?? {}).name);
  }

  @Post('tenants/:tenantId/keys')
  createKey(@Param('tenantId') tenantId: string, @Body() body: unknown) {
    const input = createKey.parse(body ?? {});
    return this.tenancy.createApiKey(tenantId, input.appId, input.scopes, input.key);
  }

  @Get('tenants/:tenantId/keys')
  listKeys(@Param('tenantId') tenantId: string) {
    return this.tenancy.listApiKeys(tenantId);
  }

  @Post('tenants/:tenantId/keys/:keyId/revoke')
  @HttpCode(200)
  async revokeKey(@Param('tenantId') tenantId: string, @Param('keyId') keyId: string) {
    await this.tenancy.revokeApiKey(tenantId, keyId);
    return { id: keyId, status: 'revoked' };
  }

  @Put('tenants/:tenantId/policy')
  putPolicy(@Param('tenantId') tenantId: string, @Body() body: unknown) {
    return this.tenancy.setPolicy(tenantId, putPolicy.parse(body ?? {}));
  }

  @Get('tenants/:tenantId/policy')
  getPolicy(@Param('tenantId') tenantId: string) {
    return this.tenancy.getPolicy(tenantId);
  }
}
