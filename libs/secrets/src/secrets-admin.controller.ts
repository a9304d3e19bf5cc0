import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { AdminGuard } from '@asc/service-kit';
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
  ) {}

  @Post('credentials')
  create(@Body() body: unknown) {
    return this.credentials.create(createCredentialSchema.parse(body ?? {}));
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
  rotate(@Param('id') id: string, @Body() body: unknown) {
    return this.credentials.rotate(id, rotateCredentialSchema.parse(body ?? {}).secret);
  }

  @Delete('credentials/:id')
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    await this.credentials.delete(id);
  }

  /** Who held which credential version, for what, until when (never the secret). */
  @Get('leases')
  leases(@Query() query: unknown) {
    return this.credentials.listLeases(listLeasesQuery.parse(query ?? {}));
  }

  @Post('leases/:id/revoke')
  @HttpCode(200)
  revokeLease(@Param('id') id: string) {
    return this.credentials.revokeLease(id);
  }

  /** Which KEK wraps how many data keys; `remaining` > 0 while a rotation's re-wrap is unfinished. */
  @Get('kek')
  kekStatus() {
    return this.tenantKeys.status();
  }

  /** Re-wraps every data key still under a previous KEK (online, resumable: rerun until remaining is 0). */
  @Post('kek/rewrap')
  @HttpCode(200)
  rewrap(@Body() body: unknown) {
    return this.tenantKeys.rewrap(rewrapBody.parse(body ?? {}));
  }

  /** BYOK: the tenant's own KEK wraps its data key from now on. */
  @Put('tenants/:tenantId/kek')
  setTenantKek(@Param('tenantId') tenantId: string, @Body() body: unknown) {
    return this.tenantKeys.setTenantKek(tenantId, tenantKekBody.parse(body ?? {}).key);
  }

  /** Revokes the tenant's own KEK: every credential of the tenant becomes unreadable (crypto-shredding). */
  @Delete('tenants/:tenantId/kek')
  @HttpCode(204)
  async revokeTenantKek(@Param('tenantId') tenantId: string): Promise<void> {
    await this.tenantKeys.revokeTenantKek(tenantId);
    await this.credentials.forgetTenant(tenantId);
  }
}
