export { bootstrapService, createLogger } from './bootstrap';
export type { GrpcServerOptions, RunningService, ServiceBootstrapOptions } from './bootstrap';
export { createGrpcClient, GrpcCallError } from './grpc-client';
export type { CallOptions, GrpcClientHandle, PromiseClient } from './grpc-client';
export { HealthController } from './health.controller';
export { METRICS, ServiceMetrics } from './metrics';
export { READINESS, ReadinessRegistry } from './readiness';
export type { ReadinessProbe } from './readiness';
export { ServiceKitModule } from './service-kit.module';
export type { ServiceKitOptions } from './service-kit.module';
export { initTelemetry, startServerSpan, traceparentOf } from './telemetry';
export { AdminGuard, ADMIN_TOKEN } from './admin.guard';
export { AdminErrorFilter } from './admin-error.filter';
export { runMain } from './run-main';
export { freePort } from './free-port';
export { grpcStatusOf, rpcErrorFrom } from './rpc-error';
export {
  AllowedCallers,
  ANY_CALLER,
  callerIdentityOf,
  GrpcCallerGuard,
  grpcChannelCredentials,
  grpcSecurityConfigShape,
  grpcSecurityFromConfig,
  grpcServerCredentials,
} from './grpc-security';
export type { CallWithAuthContext, GrpcSecurity } from './grpc-security';
export { identityOfCertificate, SERVICE_IDENTITIES, spiffeIdOf, TRUST_DOMAIN } from './service-identity';
export type { ServiceIdentity } from './service-identity';
export { ensureLocalCertificates } from './local-ca';
export type { CertificateFiles } from './local-ca';
export { adminCallerOf, Caller } from './admin-caller.decorator';
export type { AdminCaller } from './admin-caller.decorator';
