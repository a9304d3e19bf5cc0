// Public surface of the generated contracts. Each proto package is one namespace so that
// generated helper names (MessageFns, protobufPackage…) never collide.
import { join } from 'node:path';

export * as policyV1 from './gen/asc/policy/v1/policy_service';
export * as routingV1 from './gen/asc/routing/v1/routing_service';
export * as secretsV1 from './gen/asc/secrets/v1/secrets_service';
export * as meteringV1 from './gen/asc/metering/v1/metering_service';
export * as auditV1 from './gen/asc/audit/v1/audit_service';
export * as ingressV1 from './gen/asc/ingress/v1/ingress_service';

/** Folder that holds the .proto sources; gRPC servers and clients load them at run time. */
export const PROTO_ROOT = process.env.ASC_PROTO_ROOT ?? join(__dirname, '..', '..', '..', '..', 'proto');

/** The .proto file of one service, e.g. protoFile('policy'). */
export function protoFile(service: 'ingress' | 'policy' | 'routing' | 'secrets' | 'metering' | 'audit'): string {
  return join(PROTO_ROOT, 'asc', service, 'v1', `${service}_service.proto`);
}
