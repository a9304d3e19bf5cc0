import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ALL_TENANTS, CONFIG_CHANGE_PUBLISHER, EventPublisher, publishAdminChange } from '@asc/events';
import { AdminCaller, AdminGuard, Caller } from '@asc/service-kit';
import { createCredentialSchema, listCredentialsQuery, rotateCredentialSchema } from './credential.schemas';
import { CredentialsService } from './credentials.service';

/** Operator API for provider credentials (behind the admin token). Responses carry metadata only. */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class SecretsAdminController {
  constructor(
    private readonly credentials: CredentialsService,
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
}
