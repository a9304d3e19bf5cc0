import { Controller } from '@nestjs/common';
import { secretsV1 } from '@asc/contracts';
import { CredentialsService } from './credentials.service';
import { AllowedCallers, callerIdentityOf, CallWithAuthContext } from '@asc/service-kit';
import { Metadata } from '@grpc/grpc-js';

@Controller()
@AllowedCallers('ingress')
@secretsV1.SecretsServiceControllerMethods()
export class SecretsGrpcController implements secretsV1.SecretsServiceController {
  constructor(private readonly credentials: CredentialsService) {}

  lease(request: secretsV1.LeaseRequest, _metadata?: Metadata, call?: CallWithAuthContext): Promise<secretsV1.LeaseResponse> {
    // The guard has checked the identity; it is recorded with the lease.
    return this.credentials.lease(request, callerIdentityOf(call) ?? 'unauthenticated');
  }
}
