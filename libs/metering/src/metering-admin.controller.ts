import { Controller, Get, Inject, Param, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { AnalyticsStore, requestRow, USAGE_DIMENSIONS, usageBy, usageByModel, UsageDimension } from '@asc/analytics';
import { AdminGuard } from '@asc/service-kit';
import { DomainError } from '@asc/tenancy';
import { ANALYTICS_STORE, METERING_DATABASE } from './metering.tokens';

const window = z
  .object({
    fromMs: z.coerce.number().int().nonnegative().default(0),
    toMs: z.coerce.number().int().nonnegative().optional(),
    /** model (default, the original shape) | tenant | app | key | end_user. */
    groupBy: z.enum(Object.keys(USAGE_DIMENSIONS) as [UsageDimension, ...UsageDimension[]]).default('model'),
  })
  .strict();

/** Operator API: a tenant's usage and the metered row of one request. */
@Controller('admin/v1/tenants/:tenantId')
@UseGuards(AdminGuard)
export class MeteringAdminController {
  constructor(
    @Inject(ANALYTICS_STORE) private readonly store: AnalyticsStore,
    @Inject(METERING_DATABASE) private readonly database: string,
  ) {}

  @Get('usage')
  async usage(@Param('tenantId') tenantId: string, @Query() query: unknown) {
    const { fromMs, toMs, groupBy } = window.parse(query ?? {});
    const to = toMs ?? Date.now() + 60_000;
    if (groupBy === 'model') return { tenantId, groupBy, rows: await usageByModel(this.store, this.database, tenantId, fromMs, to) };
    // Each row names its group under the column it came from (app_id, key_id, end_user_id, tenant_id).
    const column = USAGE_DIMENSIONS[groupBy];
    const rows = await usageBy(this.store, this.database, tenantId, groupBy, fromMs, to);
    return { tenantId, groupBy, rows: rows.map(({ key, ...usage }) => ({ [column]: key, ...usage })) };
  }

  @Get('requests/:requestId')
  async request(@Param('tenantId') tenantId: string, @Param('requestId') requestId: string) {
    const row = await requestRow(this.store, this.database, tenantId, requestId);
    if (!row) throw new DomainError('request_not_found', `no metered request ${requestId} for this tenant`, 404);
    return row;
  }
}
