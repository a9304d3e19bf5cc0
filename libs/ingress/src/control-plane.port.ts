import { policyV1, routingV1, secretsV1 } from '@asc/contracts';
import type { ConfigChangedV1 } from '@asc/events';

export type Principal = policyV1.Principal;
export type PolicyDecision = policyV1.DecideResponse;
export type RoutePlan = routingV1.PlanResponse;
export type Deployment = routingV1.Deployment;
export type CredentialLease = secretsV1.LeaseResponse;
export type RoutableModel = routingV1.RoutableModel;

/**
 * What the data plane needs from the control plane. The gRPC adapter talks to the policy,
 * routing and secrets services; data-plane tests can run on a fake of this port.
 */
export interface ControlPlane {
  /** Resolves a key digest; undefined when the key is unknown, revoked or its tenant disabled; an expired key resolves to a principal whose expiresAtMs has passed (refused with that instant). */
  authenticate(keyHash: string): Promise<Principal | undefined>;
  decide(principal: Principal, model: string, operation: string): Promise<PolicyDecision>;
  plan(principal: Principal, model: string, allowedRegions: string[], operation: string): Promise<RoutePlan>;
  /** Every model name the tenant can be routed to (any region); policy filters it further. */
  listModels(principal: Principal): Promise<RoutableModel[]>;
  lease(principal: Principal, credentialId: string, purpose: string): Promise<CredentialLease>;
  /** Drops whatever cached answers a configuration change makes stale. */
  invalidate(change: ConfigChangedV1): void;
  close(): Promise<void>;
}

export const CONTROL_PLANE = Symbol('CONTROL_PLANE');
