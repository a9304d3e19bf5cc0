import { Controller, Get, UseGuards } from '@nestjs/common';
import { AdminGuard } from '@asc/service-kit';
import { RequestRunner } from './request-runner';

/** What this ingress replica knows about its upstreams (state is per replica). */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class IngressAdminController {
  constructor(private readonly runner: RequestRunner) {}

  /** Outlier ejection per deployment: healthy, ejected (until when, how often) or half-open. */
  @Get('deployments/health')
  health() {
    return { data: this.runner.outliers.view(), draining: this.runner.isDraining };
  }
}
