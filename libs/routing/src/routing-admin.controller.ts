import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ALL_TENANTS, CONFIG_CHANGE_PUBLISHER, EventPublisher, publishAdminChange } from '@asc/events';
import { AdminCaller, AdminGuard, Caller } from '@asc/service-kit';
import { z } from 'zod';
import { createDeploymentSchema, listDeploymentsQuery, tenantIdSchema, updateDeploymentSchema } from './deployment.schemas';
import { DeploymentsService } from './deployments.service';

const versionParam = z.coerce.number().int().min(0);
const versionsQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), before: z.coerce.number().int().min(1).optional() }).strict();
const versionQuery = z.object({ tenantId: tenantIdSchema.optional() }).strict();

/** Operator API for provider deployments and routing configuration versions (behind the admin token). */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class RoutingAdminController {
  constructor(
    private readonly deployments: DeploymentsService,
    @Inject(CONFIG_CHANGE_PUBLISHER) private readonly events: EventPublisher | null,
  ) {}

  @Post('deployments')
  async create(@Body() body: unknown, @Caller() caller: AdminCaller) {
    const after = await this.deployments.create(createDeploymentSchema.parse(body ?? {}));
    publishAdminChange(this.events, 'asc-routing', { ...caller, tenantId: after.tenantId ?? ALL_TENANTS, action: 'deployment.create', targetType: 'deployment', targetId: after.id, after });
    return after;
  }

  @Get('deployments')
  list(@Query() query: unknown) {
    return this.deployments.list(listDeploymentsQuery.parse(query ?? {}));
  }

  @Get('deployments/:id')
  get(@Param('id') id: string) {
    return this.deployments.get(id);
  }

  @Patch('deployments/:id')
  async update(@Param('id') id: string, @Body() body: unknown, @Caller() caller: AdminCaller) {
    const input = updateDeploymentSchema.parse(body ?? {});
    const before = await this.deployments.get(id);
    const after = await this.deployments.update(id, input);
    // Weight and priority changes are deployment updates too.
    publishAdminChange(this.events, 'asc-routing', { ...caller, tenantId: after.tenantId ?? ALL_TENANTS, action: 'deployment.update', targetType: 'deployment', targetId: id, before, after });
    return after;
  }

  /** Disables: deployments are never deleted because audit records reference them. */
  @Delete('deployments/:id')
  async disable(@Param('id') id: string, @Caller() caller: AdminCaller) {
    const before = await this.deployments.get(id);
    const after = await this.deployments.disable(id);
    publishAdminChange(this.events, 'asc-routing', { ...caller, tenantId: before.tenantId ?? ALL_TENANTS, action: 'deployment.disable', targetType: 'deployment', targetId: id, before, after });
    return after;
  }

  /** Every kept routing configuration version (one per deployment change or rollback), newest first. */
  @Get('routing/versions')
  versions(@Query() query: unknown) {
    return this.deployments.listVersions(versionsQuery.parse(query ?? {})).then((versions) => ({ versions }));
  }

  @Get('routing/versions/:version')
  version(@Param('version') version: string, @Query() query: unknown) {
    return this.deployments.getVersion(z.object({ version: versionParam }).parse({ version }).version, versionQuery.parse(query ?? {}).tenantId);
  }

  @Get('routing/versions/:from/diff/:to')
  diff(@Param('from') from: string, @Param('to') to: string, @Query() query: unknown) {
    const p = z.object({ from: versionParam, to: versionParam }).parse({ from, to });
    return this.deployments.diffVersions(p.from, p.to, versionQuery.parse(query ?? {}).tenantId);
  }

  /** Restores a version's deployments as a new version (itself audited and kept). */
  @Post('routing/versions/:version/rollback')
  @HttpCode(200)
  async rollback(@Param('version') version: string, @Caller() caller: AdminCaller) {
    const target = z.object({ version: versionParam }).parse({ version }).version;
    const [current] = await this.deployments.listVersions({ limit: 1 });
    const after = await this.deployments.rollback(target);
    publishAdminChange(this.events, 'asc-routing', {
      ...caller, tenantId: ALL_TENANTS, action: 'routing.rollback', targetType: 'routing_config', targetId: String(target),
      before: { version: current?.version ?? 0 }, after: { version: after.version, restored: target },
    });
    return after;
  }
}
