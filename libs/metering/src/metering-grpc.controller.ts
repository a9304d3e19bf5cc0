import { Controller, Inject } from '@nestjs/common';
import { meteringV1 } from '@asc/contracts';
import { AnalyticsStore, usageByModel } from '@asc/analytics';
import { ANALYTICS_STORE, METERING_DATABASE } from './metering.tokens';
import { AllowedCallers } from '@asc/service-kit';

@Controller()
@AllowedCallers('admin')
@meteringV1.MeteringServiceControllerMethods()
export class MeteringGrpcController implements meteringV1.MeteringServiceController {
  constructor(
    @Inject(ANALYTICS_STORE) private readonly store: AnalyticsStore,
    @Inject(METERING_DATABASE) private readonly database: string,
  ) {}

  async getUsage(request: meteringV1.GetUsageRequest): Promise<meteringV1.GetUsageResponse> {
    const rows = await usageByModel(this.store, this.database, request.tenantId, request.fromMs, request.toMs || Date.now());
    return {
      rows: rows.map((r) => ({
        servedModel: r.served_model,
        requests: r.requests,
        inputTokens: r.input_tokens,
        outputTokens: r.output_tokens,
        costUsd: r.cost_usd,
      })),
    };
  }
}
