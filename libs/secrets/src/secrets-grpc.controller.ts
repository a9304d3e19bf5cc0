import { Controller } from '@nestjs/common';
import { secretsV1 } from '@asc/contracts';
import { CredentialsService } from './credentials.service';
import { AllowedCallers } from '@asc/service-kit';

@Controller()
@AllowedCallers('ingress')
@secretsV1.SecretsServiceControllerMethods()
export class SecretsGrpcController implements secretsV1.SecretsServiceController {
  constructor(private readonly credentials: CredentialsService) {}

  lease(request: secretsV1.LeaseRequest): Promise<secretsV1.LeaseResponse> {
    return this.credentials.lease(request);
  }
}
