import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { METRICS, ServiceMetrics } from './metrics';
import { READINESS, ReadinessRegistry } from './readiness';

/** Liveness, readiness and Prometheus metrics for every service. */
@Controller()
export class HealthController {
  constructor(
    @Inject(READINESS) private readonly readiness: ReadinessRegistry,
    @Inject(METRICS) private readonly metrics: ServiceMetrics,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async ready(@Res() reply: FastifyReply): Promise<void> {
    const result = await this.readiness.check();
    await reply.code(result.ready ? 200 : 503).send(result);
  }

  @Get('metrics')
  async scrape(@Res() reply: FastifyReply): Promise<void> {
    await reply.header('content-type', this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
  }
}
