import { Body, Controller, Delete, Get, Inject, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ALL_TENANTS, CONFIG_CHANGE_PUBLISHER, EventPublisher, publishAdminChange } from '@asc/events';
import { AdminCaller, AdminGuard, Caller } from '@asc/service-kit';
import { createDeploymentSchema, listDeploymentsQuery, updateDeploymentSchema } from './deployment.schemas';
import { DeploymentsService } from './deployments.service';

/** Operator API for provider deployments (behind the admin token). */
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
}
