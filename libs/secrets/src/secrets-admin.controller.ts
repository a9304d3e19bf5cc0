import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { AdminGuard } from '@asc/service-kit';
import { createCredentialSchema, listCredentialsQuery, rotateCredentialSchema } from './credential.schemas';
import { CredentialsService } from './credentials.service';

/** Operator API for provider credentials (behind the admin token). Responses carry metadata only. */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class SecretsAdminController {
  constructor(private readonly credentials: CredentialsService) {}

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
}
