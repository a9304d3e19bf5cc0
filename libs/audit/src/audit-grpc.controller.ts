import { Controller } from '@nestjs/common';
import { auditV1 } from '@asc/contracts';
import { AuditTrailService } from './audit-trail.service';
import { AllowedCallers } from '@asc/service-kit';

@Controller()
// metering reads a request's record for its timeline (GET /admin/v1/requests/{id}/timeline)
@AllowedCallers('admin', 'metering')
@auditV1.AuditServiceControllerMethods()
export class AuditGrpcController implements auditV1.AuditServiceController {
  constructor(private readonly trail: AuditTrailService) {}

  async listRecords(request: auditV1.ListRecordsRequest): Promise<auditV1.ListRecordsResponse> {
    return { records: await this.trail.list(request.tenantId, { requestId: request.requestId || undefined, limit: request.limit }) };
  }
}
