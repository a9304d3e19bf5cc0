import { Controller } from '@nestjs/common';
import { policyV1 } from '@asc/contracts';
import { PolicyVersionsService } from './policy-versions.service';
import { TenancyService } from './tenancy.service';
import { AllowedCallers } from '@asc/service-kit';

@Controller()
@AllowedCallers('ingress', 'admin')
@policyV1.PolicyServiceControllerMethods()
export class PolicyGrpcController implements policyV1.PolicyServiceController {
  constructor(
    private readonly tenancy: TenancyService,
    private readonly policies: PolicyVersionsService,
  ) {}

  authenticateKey(request: policyV1.AuthenticateKeyRequest): Promise<policyV1.AuthenticateKeyResponse> {
    return this.tenancy.authenticate(request.keyHash);
  }

  decide(request: policyV1.DecideRequest): Promise<policyV1.DecideResponse> {
    return this.policies.decide(request);
  }
}
