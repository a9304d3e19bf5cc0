import { Body, Controller, Delete, Get, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { AdminGuard } from '@asc/service-kit';
import { createDeploymentSchema, listDeploymentsQuery, updateDeploymentSchema } from './deployment.schemas';
import { DeploymentsService } from './deployments.service';

/** Operator API for provider deployments (behind the admin token). */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class RoutingAdminController {
  constructor(private readonly deployments: DeploymentsService) {}

  @Post('deployments')
  create(@Body() body: unknown) {
    return this.deployments.create(createDeploymentSchema.parse(body ?? {}));
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
  update(@Param('id') id: string, @Body() body: unknown) {
    return this.deployments.update(id, updateDeploymentSchema.parse(body ?? {}));
  }

  /** Disables: deployments are never deleted because audit records reference them. */
  @Delete('deployments/:id')
  disable(@Param('id') id: string) {
    return this.deployments.disable(id);
  }
}
