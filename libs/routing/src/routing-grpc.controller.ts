import { Controller } from '@nestjs/common';
import { routingV1 } from '@asc/contracts';
import { DeploymentsService } from './deployments.service';
import { AllowedCallers } from '@asc/service-kit';

@Controller()
@AllowedCallers('ingress', 'admin')
@routingV1.RoutingServiceControllerMethods()
export class RoutingGrpcController implements routingV1.RoutingServiceController {
  constructor(private readonly deployments: DeploymentsService) {}

  plan(request: routingV1.PlanRequest): Promise<routingV1.PlanResponse> {
    return this.deployments.plan(request);
  }

  listModels(request: routingV1.ListModelsRequest): Promise<routingV1.ListModelsResponse> {
    return this.deployments.listModels(request);
  }
}
