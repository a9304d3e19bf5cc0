import { LoggerService } from '@nestjs/common';
import { auditV1, protoFile } from '@asc/contracts';
import { withServiceDatabase } from '@asc/db';
import { EventSubscriber, TOPIC_ADMIN_CHANGE_V1, TOPIC_GATEWAY_REQUEST_V1 } from '@asc/events';
import { bootstrapService, grpcSecurityFromConfig, RunningService } from '@asc/service-kit';
import { AuditTrailService } from './audit-trail.service';
import { assertOneSigningKey, AuditConfig } from './audit.config';
import { AuditModule } from './audit.module';
import { InitialAudit1764230400001 } from './migrations/1764230400001-initial-audit';
import { AuditAttribution1765000000008 } from './migrations/1765000000008-audit-attribution';
import { AuditHashChain1765000000011 } from './migrations/1765000000011-audit-hash-chain';
import { AuditSigningKey } from './signing-key';

export interface AuditDependencies {
  events: EventSubscriber;
  collectProcessMetrics?: boolean;
  logger?: LoggerService;
}

export const AUDIT_MIGRATIONS = [InitialAudit1764230400001, AuditAttribution1765000000008, AuditHashChain1765000000011];

/** Serves the audit trail; appends every request decision and admin change to its tenant's hash chain and signs checkpoints. */
export async function startAuditService(config: AuditConfig, deps: AuditDependencies): Promise<RunningService> {
  assertOneSigningKey(config);
  const signingKey = config.AUDIT_SIGNING_KEY ? AuditSigningKey.fromPem(config.AUDIT_SIGNING_KEY) : AuditSigningKey.fromFile(config.AUDIT_SIGNING_KEY_FILE ?? '');
  return withServiceDatabase(
    { url: config.AUDIT_DATABASE_URL, schema: 'audit', entities: [], migrations: AUDIT_MIGRATIONS },
    async (dataSource) => {
      const running = await bootstrapService({
        name: 'audit',
        module: AuditModule.forRoot({
          dataSource,
          adminToken: config.ASC_ADMIN_TOKEN,
          collectProcessMetrics: deps.collectProcessMetrics ?? true,
          signingKey,
          checkpoints: { everyRecords: config.AUDIT_CHECKPOINT_EVERY_RECORDS },
        }),
        http: { host: config.AUDIT_HTTP_HOST, port: config.AUDIT_HTTP_PORT },
        grpc: { url: config.AUDIT_GRPC_URL, package: auditV1.ASC_AUDIT_V1_PACKAGE_NAME, protoFile: protoFile('audit'), security: grpcSecurityFromConfig('audit', 'AUDIT', config) },
        logger: deps.logger,
      });
      const trail = running.app.get(AuditTrailService);
      const subscription = await deps.events.subscribe({
        groupId: config.AUDIT_CONSUMER_GROUP,
        topics: [TOPIC_GATEWAY_REQUEST_V1, TOPIC_ADMIN_CHANGE_V1],
        handleBatch: async (events) => {
          await trail.append(events);
        },
        // SQLSTATE class 22 (data exception: out of range, bad encoding) or 23 (constraint): the record itself is refused.
        isRejection: (err) => /^2[23]/.test(String((err as { code?: unknown } | null)?.code ?? '')),
      });
      // The "every T" half of the checkpoint rule; one run at a time per replica.
      let ticking: Promise<unknown> = Promise.resolve();
      const timer = setInterval(() => {
        ticking = ticking.then(() => trail.checkpointDue()).catch(() => undefined);
      }, config.AUDIT_CHECKPOINT_INTERVAL_MS);
      timer.unref();
      return {
        ...running,
        close: async () => {
          clearInterval(timer);
          await subscription.stop();
          await ticking;
          await running.close();
        },
      };
    },
  );
}
