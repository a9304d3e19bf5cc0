import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { AdminGuard } from '@asc/service-kit';
import { AuditTrailService } from './audit-trail.service';

const listQuery = z.object({ requestId: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) });

/** Operator API: a tenant's audit records, newest first. */
@Controller('admin/v1/tenants/:tenantId/audit')
@UseGuards(AdminGuard)
export class AuditAdminController {
  constructor(private readonly trail: AuditTrailService) {}

  @Get()
  async list(@Param('tenantId') tenantId: string, @Query() query: unknown) {
    const { requestId, limit } = listQuery.parse(query ?? {});
    return { tenantId, records: await this.trail.list(tenantId, { requestId, limit }) };
  }
}
