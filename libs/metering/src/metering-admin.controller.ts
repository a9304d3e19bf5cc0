import { Controller, Get, Inject, Logger, Param, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { AnalyticsStore, queryRollups, requestRow, ROLLUP_DIMENSIONS, USAGE_DIMENSIONS, usageBy, usageByModel, UsageDimension, type RollupRow } from '@asc/analytics';
import { AdminGuard } from '@asc/service-kit';
import { DomainError } from '@asc/tenancy';
import type { AuditLookup, AuditRecordRef } from './audit-lookup';
import { ANALYTICS_STORE, AUDIT_LOOKUP, METERING_DATABASE } from './metering.tokens';
import { buildTimeline, type RequestTimeline } from './request-timeline';

const window = z
  .object({
    fromMs: z.coerce.number().int().nonnegative().default(0),
    toMs: z.coerce.number().int().nonnegative().optional(),
    /** model (default, the original shape) | tenant | app | key | end_user. */
    groupBy: z.enum(Object.keys(USAGE_DIMENSIONS) as [UsageDimension, ...UsageDimension[]]).default('model'),
  })
  .strict();

const analyticsQuery = z.object({
  fromMs: z.coerce.number().int().nonnegative().default(0),
  toMs: z.coerce.number().int().nonnegative().optional(),
  groupBy: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.enum(ROLLUP_DIMENSIONS))),
  provider: z.string().min(1).max(256).optional(),
  model: z.string().min(1).max(256).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});

/** Analytics over the hourly rollups, across tenants (the platform view). */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class PlatformAnalyticsController {
  private readonly logger = new Logger('RequestTimeline');

  constructor(
    @Inject(ANALYTICS_STORE) private readonly store: AnalyticsStore,
    @Inject(METERING_DATABASE) private readonly database: string,
    @Inject(AUDIT_LOOKUP) private readonly audit: AuditLookup | null,
  ) {}

  @Get('analytics')
  async analytics(@Query() query: unknown): Promise<{ rows: RollupRow[] }> {
    const q = analyticsQuery.parse(query ?? {});
    return { rows: await queryRollups(this.store, this.database, { ...q, toMs: q.toMs ?? Date.now() + 3_600_000 }) };
  }

  /** One ordered timeline of a request (tenantId required: request ids are only unique per tenant). */
  @Get('requests/:requestId/timeline')
  async timeline(@Param('requestId') requestId: string, @Query() query: unknown): Promise<RequestTimeline> {
    const { tenantId } = z.object({ tenantId: z.string().min(1).max(256) }).parse(query ?? {});
    const row = await requestRow(this.store, this.database, tenantId, requestId);
    if (!row) throw new DomainError('request_not_found', `no metered request ${requestId} for this tenant`, 404);
    let audit: AuditRecordRef | undefined;
    try {
      audit = await this.audit?.find(tenantId, requestId);
    } catch (err) {
      // The rest of the timeline is still true: the audit step is reported pending.
      this.logger.warn(`audit service not reachable for the timeline: ${err instanceof Error ? err.message : String(err)}`);
    }
    return buildTimeline(row, audit);
  }
}

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

  /** The tenant-scoped view of the rollups. */
  @Get('analytics')
  async analytics(@Param('tenantId') tenantId: string, @Query() query: unknown): Promise<{ tenantId: string; rows: RollupRow[] }> {
    const q = analyticsQuery.parse(query ?? {});
    return { tenantId, rows: await queryRollups(this.store, this.database, { ...q, tenantId, toMs: q.toMs ?? Date.now() + 3_600_000 }) };
  }

  @Get('requests/:requestId')
  async request(@Param('tenantId') tenantId: string, @Param('requestId') requestId: string) {
    const row = await requestRow(this.store, this.database, tenantId, requestId);
    if (!row) throw new DomainError('request_not_found', `no metered request ${requestId} for this tenant`, 404);
    return row;
  }
}
