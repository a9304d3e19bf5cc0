import { LoggerService } from '@nestjs/common';
import { auditV1, protoFile } from '@asc/contracts';
import { withServiceDatabase } from '@asc/db';
import { EventSubscriber, TOPIC_GATEWAY_REQUEST_V1 } from '@asc/events';
import { bootstrapService, RunningService, grpcSecurityFromConfig } from '@asc/service-kit';
import { AuditTrailService } from './audit-trail.service';
import { AuditConfig } from './audit.config';
import { AuditModule } from './audit.module';
import { InitialAudit1764230400001 } from './migrations/1764230400001-initial-audit';

export interface AuditDependencies {
  events: EventSubscriber;
  collectProcessMetrics?: boolean;
  logger?: LoggerService;
}

/** Serves the audit trail and appends every request decision to it from the event log. */
export async function startAuditService(config: AuditConfig, deps: AuditDependencies): Promise<RunningService> {
  return withServiceDatabase(
    { url: config.AUDIT_DATABASE_URL, schema: 'audit', entities: [], migrations: [InitialAudit1764230400001] },
    async (dataSource) => {
      const running = await bootstrapService({
        name: 'audit',
        module: AuditModule.forRoot({ dataSource, adminToken: config.ASC_ADMIN_TOKEN, collectProcessMetrics: deps.collectProcessMetrics ?? true }),
        http: { host: config.AUDIT_HTTP_HOST, port: config.AUDIT_HTTP_PORT },
        grpc: { url: config.AUDIT_GRPC_URL, package: auditV1.ASC_AUDIT_V1_PACKAGE_NAME, protoFile: protoFile('audit'), security: grpcSecurityFromConfig('audit', 'AUDIT', config) },
        logger: deps.logger,
      });
      const trail = running.app.get(AuditTrailService);
      const subscription = await deps.events.subscribe({
        groupId: config.AUDIT_CONSUMER_GROUP,
        topics: [TOPIC_GATEWAY_REQUEST_V1],
        handleBatch: async (events) => {
          await trail.append(events);
        },
      });
      return {
        ...running,
        close: async () => {
          await subscription.stop();
          await running.close();
        },
      };
    },
  );
}
