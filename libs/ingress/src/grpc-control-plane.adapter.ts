import { Logger } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { policyV1, routingV1, secretsV1 } from '@asc/contracts';
import { ALL_TENANTS, ConfigChangedV1 } from '@asc/events';
import { createGrpcClient, GrpcCallError, GrpcClientHandle, GrpcSecurity } from '@asc/service-kit';
import { ControlPlane, CredentialLease, PolicyDecision, Principal, RoutableModel, RoutePlan } from './control-plane.port';
import { IngressError } from './ingress.error';
import { SourceAnswered, TtlCache } from './ttl-cache';

export interface GrpcControlPlaneOptions {
  policyTarget: string;
  routingTarget: string;
  secretsTarget: string;
  /** How long a key lookup, decision or plan is served from ingress memory (0 = never). */
  cacheTtlMs: number;
  /** How long the last good answer is served while the control plane is unreachable. */
  staleIfErrorMs: number;
  deadlineMs: number;
  maxEntries: number;
  /** This ingress's mTLS identity (or the dev plaintext flag) for its calls to the control plane. */
  security: GrpcSecurity;
}

/**
 * Unknown keys are remembered apart from valid ones, in a small bounded cache: a flood of
 * wrong keys can evict only other wrong keys, never a valid key's principal.
 */
const MAX_NEGATIVE_ENTRIES = 10_000;

/**
 * The control plane over gRPC, with tenant-scoped hot-path caches. Every cache key starts
 * with the tenant id (or is the key digest itself), so no entry can answer for another
 * tenant.
 */
/** Stands for a key that policy says expired; the runner refuses it before using any field. */
const EXPIRED_PRINCIPAL: Principal = { tenantId: '', appId: '', keyId: '', scopes: [], modelScopes: [], operationScopes: [], expiresAtMs: 0 };

export class GrpcControlPlane implements ControlPlane {
  private readonly logger = new Logger('ControlPlane');
  private readonly policy: GrpcClientHandle<typeof policyV1.PolicyServiceService>;
  private readonly routing: GrpcClientHandle<typeof routingV1.RoutingServiceService>;
  private readonly secrets: GrpcClientHandle<typeof secretsV1.SecretsServiceService>;
  private readonly principals: TtlCache<string, Principal>;
  private readonly unknownKeys: TtlCache<string, true>;
  private readonly decisions: TtlCache<string, PolicyDecision>;
  private readonly plans: TtlCache<string, RoutePlan>;
  private readonly models: TtlCache<string, RoutableModel[]>;
  private readonly leases: TtlCache<string, CredentialLease>;

  constructor(options: GrpcControlPlaneOptions) {
    const defaults = { deadlineMs: options.deadlineMs };
    const { security } = options;
    this.policy = createGrpcClient(policyV1.PolicyServiceService, options.policyTarget, { security, service: 'policy' }, defaults);
    this.routing = createGrpcClient(routingV1.RoutingServiceService, options.routingTarget, { security, service: 'routing' }, defaults);
    this.secrets = createGrpcClient(secretsV1.SecretsServiceService, options.secretsTarget, { security, service: 'secrets' }, defaults);
    const { cacheTtlMs, maxEntries, staleIfErrorMs } = options;
    // Only an unreachable control plane is answered from the last good config; any other error is real.
    const transient = (err: unknown) => err instanceof IngressError && err.code === 'control_plane_unavailable';
    this.principals = new TtlCache(cacheTtlMs, maxEntries, staleIfErrorMs, Date.now, transient);
    this.unknownKeys = new TtlCache(cacheTtlMs, Math.min(maxEntries, MAX_NEGATIVE_ENTRIES));
    this.decisions = new TtlCache(cacheTtlMs, maxEntries, staleIfErrorMs, Date.now, transient);
    this.plans = new TtlCache(cacheTtlMs, maxEntries, staleIfErrorMs, Date.now, transient);
    this.models = new TtlCache(cacheTtlMs, maxEntries, staleIfErrorMs, Date.now, transient);
    // A lease is reused until shortly before it expires, never past it.
    this.leases = new TtlCache(Number.MAX_SAFE_INTEGER, maxEntries, 0);
  }

  async authenticate(keyHash: string): Promise<Principal | undefined> {
    if (this.unknownKeys.peek(keyHash)) return undefined;
    try {
      return await this.principals.getOrLoad(keyHash, () =>
        this.call(async () => {
          const res = await this.policy.client.authenticateKey({ keyHash });
          if (res.found && res.principal) return res.principal;
          // An expired key answers with when it expired: the runner refuses it with that instant.
          if (res.reason === 'expired' && res.expiredAtMs) return { ...EXPIRED_PRINCIPAL, expiresAtMs: res.expiredAtMs };
          throw new UnknownKey();
        }, 'policy'),
      );
    } catch (err) {
      if (!(err instanceof UnknownKey)) throw err;
      this.unknownKeys.set(keyHash, true);
      return undefined;
    }
  }

  decide(principal: Principal, model: string, operation: string): Promise<PolicyDecision> {
    const key = `${principal.tenantId}\u0000${principal.appId}\u0000${principal.keyId}\u0000${operation}\u0000${model}`;
    return this.decisions.getOrLoad(key, () =>
      this.call(
        () => this.policy.client.decide({ tenantId: principal.tenantId, appId: principal.appId, keyId: principal.keyId, model, operation }),
        'policy',
      ),
    );
  }

  plan(principal: Principal, model: string, allowedRegions: string[], operation: string): Promise<RoutePlan> {
    const key = `${principal.tenantId}\u0000${operation}\u0000${model}\u0000${allowedRegions.join(',')}`;
    return this.plans.getOrLoad(key, () =>
      this.call(() => this.routing.client.plan({ tenantId: principal.tenantId, model, allowedRegions, operation }), 'routing'),
    );
  }

  listModels(principal: Principal): Promise<RoutableModel[]> {
    const key = `${principal.tenantId}\u0000models`;
    return this.models.getOrLoad(key, () =>
      this.call(async () => (await this.routing.client.listModels({ tenantId: principal.tenantId, allowedRegions: ['*'] })).models, 'routing'),
    );
  }

  lease(principal: Principal, credentialId: string, purpose: string): Promise<CredentialLease> {
    const key = `${principal.tenantId}\u0000${credentialId}`;
    return this.leases.getOrLoad(
      key,
      () => this.call(() => this.secrets.client.lease({ tenantId: principal.tenantId, credentialId, purpose }), 'secrets'),
      // Re-lease 30 s before expiry (or at half-life for very short leases).
      (lease) => {
        const remaining = lease.expiresAtMs - Date.now();
        return Math.max(0, Math.min(remaining - 30_000, remaining / 2));
      },
    );
  }

  invalidate(change: ConfigChangedV1): void {
    const SEP = '\u0000';
    const ofTenant = (key: string) => change.tenantId === ALL_TENANTS || key.startsWith(change.tenantId + SEP);
    switch (change.kind) {
      case 'api_key':
        if (change.keyHash) {
          this.principals.delete(change.keyHash);
          this.unknownKeys.delete(change.keyHash);
        }
        break;
      case 'policy':
        this.decisions.deleteWhere(ofTenant);
        break;
      case 'deployment':
        this.plans.deleteWhere(ofTenant);
        this.models.deleteWhere(ofTenant);
        break;
      case 'credential':
        this.leases.deleteWhere((key) => ofTenant(key) && key.endsWith(SEP + change.entityId));
        break;
    }
  }

  async close(): Promise<void> {
    this.policy.close();
    this.routing.close();
    this.secrets.close();
  }

  /**
   * Maps a control-plane failure: unreachable or too slow (UNAVAILABLE, DEADLINE_EXCEEDED,
   * RESOURCE_EXHAUSTED) is a 503 that the caches may answer from stale config; anything else
   * (INVALID_ARGUMENT, PERMISSION_DENIED, INTERNAL…) is a bug or a misconfiguration: logged
   * with its code, answered 500, never hidden behind stale config.
   */
  private async call<T>(fn: () => Promise<T>, service: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof UnknownKey) throw err;
      const code = err instanceof GrpcCallError ? err.grpcCode : undefined;
      // secrets answers NOT_FOUND for a credential this tenant may not use (or that is gone).
      if (service === 'secrets' && code === status.NOT_FOUND) {
        throw new IngressError('credential_unavailable', 'the credential for this deployment is not available', 502);
      }
      if (code === undefined || code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED || code === status.RESOURCE_EXHAUSTED) {
        this.logger.warn(`${service} unreachable: ${code === undefined ? (err as Error).message : status[code]}`);
        throw new IngressError('control_plane_unavailable', `the ${service} service is unavailable`, 503);
      }
      this.logger.error(`${service} refused a call with ${status[code] ?? code}: ${(err as Error).message}`);
      throw new IngressError('control_plane_error', `the gateway could not get an answer from the ${service} service`, 500);
    }
  }
}

/** policy answered "no such key": not an outage, and not cached with the valid keys. */
class UnknownKey extends SourceAnswered {}
