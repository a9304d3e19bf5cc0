import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { ALL_TENANTS, CONFIG_CHANGE_PUBLISHER, EventPublisher, publishAdminChange } from '@asc/events';
import { AdminCaller, AdminGuard, Caller } from '@asc/service-kit';
import { createCredentialSchema, listCredentialsQuery, rotateCredentialSchema } from './credential.schemas';
import { CredentialsService } from './credentials.service';
import { TenantKeysService } from './tenant-keys.service';
import { isBase64Key } from './crypto/local-key-encryption-key.adapter';

const listLeasesQuery = z.object({ credentialId: z.string().min(1).optional(), tenantId: z.string().min(1).optional(), limit: z.coerce.number().int().min(1).max(1000).optional() }).strict();
const tenantKekBody = z.object({ key: z.string({ required_error: 'is required' }).refine(isBase64Key, 'must be 32 random bytes, base64-encoded') }).strict();
const rewrapBody = z.object({ batchSize: z.number().int().min(1).max(10_000).optional(), maxBatches: z.number().int().min(1).optional() }).strict();

/** Operator API for provider credentials (behind the admin token). Responses carry metadata only. */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class SecretsAdminController {
  constructor(
    private readonly credentials: CredentialsService,
    private readonly tenantKeys: TenantKeysService,
    @Inject(CONFIG_CHANGE_PUBLISHER) private readonly events: EventPublisher | null,
  ) {}

  @Post('credentials')
  async create(@Body() body: unknown, @Caller() caller: AdminCaller) {
    // Metadata only: the secret is in the request body, never in what is recorded.
    const after = await this.credentials.create(createCredentialSchema.parse(body ?? {}));
    publishAdminChange(this.events, 'asc-secrets', { ...caller, tenantId: after.tenantId ?? ALL_TENANTS, action: 'credential.create', targetType: 'credential', targetId: after.id, after });
    return after;
  }

  @Get('credentials')
  list(@Query() query: unknown) {
    return this.credentials.list(listCredentialsQuery.parse(query ?? {}));
  }

  @Get('credentials/:id')
  get(@Param('id') id: string) {
    return this.credentials.get(id);
  }

  @Post('credentials/:id/rotate')
  @HttpCode(200)
  async rotate(@Param('id') id: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    const secret = rotateCredentialSchema.parse(body ?? {}).secret;
    const before = await this.credentials.get(id);
    const after = await this.credentials.rotate(id, secret);
    publishAdminChange(this.events, 'asc-secrets', { ...caller, tenantId: after.tenantId ?? ALL_TENANTS, action: 'credential.rotate', targetType: 'credential', targetId: id, before, after });
    return after;
  }

  @Delete('credentials/:id')
  @HttpCode(204)
  async remove(@Param('id') id: string, @Caller() caller: AdminCaller): Promise<void> {
    const before = await this.credentials.get(id);
    await this.credentials.delete(id);
    publishAdminChange(this.events, 'asc-secrets', { ...caller, tenantId: before.tenantId ?? ALL_TENANTS, action: 'credential.delete', targetType: 'credential', targetId: id, before, after: null });
  }

  /** Who held which credential version, for what, until when (never the secret). */
  @Get('leases')
  leases(@Query() query: unknown) {
    return this.credentials.listLeases(listLeasesQuery.parse(query ?? {}));
  }

  @Post('leases/:id/revoke')
  @HttpCode(200)
  async revokeLease(@Param('id') id: string, @Caller() caller: AdminCaller) {
    const lease = await this.credentials.revokeLease(id);
    publishAdminChange(this.events, 'asc-secrets', { ...caller, tenantId: lease.tenantId, action: 'lease.revoke', targetType: 'lease', targetId: id, before: null, after: lease });
    return lease;
  }

  /** Which KEK wraps how many data keys; `remaining` > 0 while a rotation's re-wrap is unfinished. */
  @Get('kek')
  kekStatus() {
    return this.tenantKeys.status();
  }

  /** Re-wraps every data key still under a previous KEK (online, resumable: rerun until remaining is 0). */
  @Post('kek/rewrap')
  @HttpCode(200)
  async rewrap(@Body() body: unknown, @Caller() caller: AdminCaller) {
    const progress = await this.tenantKeys.rewrap(rewrapBody.parse(body ?? {}));
    publishAdminChange(this.events, 'asc-secrets', { ...caller, tenantId: ALL_TENANTS, action: 'kek.rewrap', targetType: 'kek', targetId: 'platform', before: null, after: progress });
    return progress;
  }

  /** BYOK: the tenant's own KEK wraps its data key from now on. */
  @Put('tenants/:tenantId/kek')
  async setTenantKek(@Param('tenantId') tenantId: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    const after = await this.tenantKeys.setTenantKek(tenantId, tenantKekBody.parse(body ?? {}).key);
    publishAdminChange(this.events, 'asc-secrets', { ...caller, tenantId, action: 'tenant_kek.set', targetType: 'tenant_kek', targetId: tenantId, before: null, after });
    return after;
  }

  /** Revokes the tenant's own KEK: every credential of the tenant becomes unreadable (crypto-shredding). */
  @Delete('tenants/:tenantId/kek')
  @HttpCode(204)
  async revokeTenantKek(@Param('tenantId') tenantId: string, @Caller() caller: AdminCaller): Promise<void> {
    await this.tenantKeys.revokeTenantKek(tenantId);
    await this.credentials.forgetTenant(tenantId);
    publishAdminChange(this.events, 'asc-secrets', { ...caller, tenantId, action: 'tenant_kek.revoke', targetType: 'tenant_kek', targetId: tenantId, before: null, after: null });
  }
}
