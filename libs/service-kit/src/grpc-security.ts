import { CanActivate, ExecutionContext, Injectable, Logger, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RpcException } from '@nestjs/microservices';
import { ChannelCredentials, credentials, experimental, ServerCredentials, status } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { ConfigError, env } from '@asc/config';
import { identityOfCertificate, spiffeIdOf } from './service-identity';

/**
 * How a process secures its gRPC channels: mutual TLS with its own certificate (the
 * default, required), or plaintext with the explicit dev flag ASC_GRPC_INSECURE=1.
 */
export type GrpcSecurity =
  | { readonly mode: 'mtls'; readonly identity: string; readonly certFile: string; readonly keyFile: string; readonly caFile: string; readonly reloadMs: number }
  | { readonly mode: 'insecure'; readonly identity: string };

/**
 * The variables every service reads for its gRPC identity; `<P>` is the service's prefix
 * (POLICY, ROUTING…). Spread into the service's config shape, resolved with
 * `grpcSecurityFromConfig`.
 */
export function grpcSecurityConfigShape<P extends string>(prefix: P) {
  const file = () => env.str().optional();
  return {
    [`${prefix}_TLS_CERT_FILE`]: file(),
    [`${prefix}_TLS_KEY_FILE`]: file(),
    [`${prefix}_TLS_CA_FILE`]: file(),
    /** Plaintext gRPC for local development only: logged as a warning at every start. */
    ASC_GRPC_INSECURE: env.bool(false),
    /** How often certificate files are re-read (rotation by cert-manager or a mesh needs no restart). */
    ASC_TLS_RELOAD_MS: env.int(30_000, 100),
  } as Record<`${P}_TLS_CERT_FILE` | `${P}_TLS_KEY_FILE` | `${P}_TLS_CA_FILE`, ReturnType<typeof file>> & {
    ASC_GRPC_INSECURE: ReturnType<typeof env.bool>;
    ASC_TLS_RELOAD_MS: ReturnType<typeof env.int>;
  };
}

const logger = new Logger('GrpcSecurity');

/**
 * Resolves a loaded config into the process's gRPC security; a missing certificate path
 * fails the start naming the variable, unless the dev flag asks for plaintext.
 */
export function grpcSecurityFromConfig(identity: string, prefix: string, config: object): GrpcSecurity {
  const values = config as Record<string, unknown>;
  if (values.ASC_GRPC_INSECURE === true) {
    logger.warn(
      `ASC_GRPC_INSECURE=1: ${identity} serves and calls gRPC in PLAINTEXT without caller authentication — any process that reaches the port can call every RPC. Development only.`,
    );
    return { mode: 'insecure', identity };
  }
  const names = [`${prefix}_TLS_CERT_FILE`, `${prefix}_TLS_KEY_FILE`, `${prefix}_TLS_CA_FILE`];
  const [certFile, keyFile, caFile] = names.map((n) => values[n]);
  const missing = names.filter((n) => typeof values[n] !== 'string' || !values[n]);
  if (missing.length) {
    throw new ConfigError(missing.map((n) => `${n} is required for mutual TLS on gRPC (or set ASC_GRPC_INSECURE=1 for plaintext in development)`));
  }
  const reloadMs = typeof values.ASC_TLS_RELOAD_MS === 'number' ? values.ASC_TLS_RELOAD_MS : 30_000;
  return { mode: 'mtls', identity, certFile: certFile as string, keyFile: keyFile as string, caFile: caFile as string, reloadMs };
}

/** One file watcher per security setting: certificate, key and CA re-read every reloadMs. */
const providers = new WeakMap<GrpcSecurity, experimental.FileWatcherCertificateProvider>();
function certificateProvider(security: Extract<GrpcSecurity, { mode: 'mtls' }>): experimental.FileWatcherCertificateProvider {
  let provider = providers.get(security);
  if (!provider) {
    provider = new experimental.FileWatcherCertificateProvider({
      certificateFile: security.certFile,
      privateKeyFile: security.keyFile,
      caCertificateFile: security.caFile,
      refreshIntervalMs: security.reloadMs,
    });
    providers.set(security, provider);
  }
  return provider;
}

/**
 * Server credentials: with mTLS every client must present a certificate signed by the CA
 * (the handshake fails otherwise); `requireClientCertificate: false` is for the public
 * ingress edge, where callers authenticate with API keys over server-side TLS.
 */
export function grpcServerCredentials(security: GrpcSecurity, options: { requireClientCertificate?: boolean } = {}): ServerCredentials {
  if (security.mode === 'insecure') return ServerCredentials.createInsecure();
  const provider = certificateProvider(security);
  return experimental.createCertificateProviderServerCredentials(provider, provider, options.requireClientCertificate ?? true);
}

/**
 * Channel credentials to call `service`: this process's certificate as the client
 * identity, and the server must prove it is `spiffe://asc/<service>` (its SAN is checked
 * instead of the host name, so any address — pod IP, Service DNS — works).
 */
export function grpcChannelCredentials(security: GrpcSecurity, service: string): ChannelCredentials {
  if (security.mode === 'insecure') return credentials.createInsecure();
  const provider = certificateProvider(security);
  return experimental.createCertificateProviderChannelCredentials(provider, provider, {
    checkServerIdentity: (_host, cert) =>
      identityOfCertificate(cert) === service ? undefined : new Error(`server certificate is not ${spiffeIdOf(service)}`),
  });
}

/** What @grpc/grpc-js server calls expose about the TLS peer (the third handler argument in Nest). */
export interface CallWithAuthContext {
  getAuthContext?(): { sslPeerCertificate?: PeerCertificate } | null;
}

/** The service identity of the peer of a gRPC call (from its verified client certificate). */
export function callerIdentityOf(call: CallWithAuthContext | undefined): string | undefined {
  const auth = call?.getAuthContext?.();
  return identityOfCertificate(auth?.sslPeerCertificate);
}

const ALLOWED_CALLERS = 'asc:allowed-grpc-callers';
export const ANY_CALLER = '*';

/**
 * Which service identities may call an RPC (on the handler or the controller class). An
 * RPC without it is refused: default deny. `ANY_CALLER` is for the public ingress edge,
 * which authenticates API keys itself.
 */
export const AllowedCallers = (...identities: string[]) => SetMetadata(ALLOWED_CALLERS, identities);

/**
 * Authorizes every gRPC call by the caller's certificate identity; HTTP requests pass
 * through (their own guards apply). Installed by bootstrapService on every service.
 */
@Injectable()
export class GrpcCallerGuard implements CanActivate {
  private readonly reflector = new Reflector();

  constructor(private readonly security: GrpcSecurity) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'rpc') return true;
    const allowed = this.reflector.getAllAndOverride<string[] | undefined>(ALLOWED_CALLERS, [context.getHandler(), context.getClass()]);
    const rpc = `${context.getClass().name}.${context.getHandler().name}`;
    if (!allowed?.length) throw denied(`${rpc} allows no caller`);
    if (allowed.includes(ANY_CALLER)) return true;
    // Plaintext dev mode has no identities to check: the loud warning at start says so.
    if (this.security.mode === 'insecure') return true;
    const caller = callerIdentityOf(context.getArgByIndex<CallWithAuthContext | undefined>(2));
    if (!caller) throw new RpcException({ code: status.UNAUTHENTICATED, message: 'a client certificate with a spiffe://asc/<service> identity is required' });
    if (!allowed.includes(caller)) throw denied(`${caller} may not call ${rpc}`);
    return true;
  }
}

function denied(message: string): RpcException {
  return new RpcException({ code: status.PERMISSION_DENIED, message });
}
