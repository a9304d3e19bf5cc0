import { Client, Metadata, ServiceError, status } from '@grpc/grpc-js';
import { grpcChannelCredentials, GrpcSecurity } from './grpc-security';
import { traceContextClientInterceptor } from './grpc-trace.interceptor';

/** The shape of one unary method in a ts-proto `outputServices=grpc-js` service definition. */
interface UnaryMethodDefinition<Req, Res> {
  readonly path: string;
  readonly requestStream: false;
  readonly responseStream: false;
  requestSerialize(value: Req): Buffer;
  responseDeserialize(value: Buffer): Res;
}

export type PromiseClient<D> = {
  [K in keyof D]: D[K] extends UnaryMethodDefinition<infer Req, infer Res>
    ? (request: Req, options?: CallOptions) => Promise<Res>
    : never;
};

export interface CallOptions {
  deadlineMs?: number;
  metadata?: Metadata;
}

export interface GrpcClientHandle<D> {
  readonly client: PromiseClient<D>;
  close(): void;
}

/** A failed gRPC call, with the status code kept for mapping at the edge. */
export class GrpcCallError extends Error {
  readonly code = 'grpc_call_failed';
  constructor(
    readonly path: string,
    readonly grpcCode: status,
    detail: string,
  ) {
    super(`${path} failed: ${status[grpcCode] ?? grpcCode} ${detail}`);
    this.name = 'GrpcCallError';
  }
}

/**
 * A typed, promise-returning client over one @grpc/grpc-js channel, built from the
 * generated service definition (ts-proto codecs, no runtime .proto parsing).
 */
export function createGrpcClient<D extends object>(
  definition: D,
  address: string,
  /** `service` is the identity the server must prove (its certificate's spiffe://asc/<service>). */
  peer: { security: GrpcSecurity; service: string },
  defaults: { deadlineMs: number } = { deadlineMs: 2000 },
): GrpcClientHandle<D> {
  const channel = new Client(address, grpcChannelCredentials(peer.security, peer.service), {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    interceptors: [traceContextClientInterceptor],
    // SNI names the service, not the address (an IP as SNI is invalid); the server's
    // certificate is checked against spiffe://asc/<service> by the channel credentials.
    ...(peer.security.mode === 'mtls' ? { 'grpc.ssl_target_name_override': `${peer.service}.asc.internal` } : {}),
  });
  const client = {} as Record<string, unknown>;
  for (const [name, raw] of Object.entries(definition)) {
    const method = raw as UnaryMethodDefinition<unknown, unknown>;
    if (method.requestStream || method.responseStream) continue;
    client[name] = (request: unknown, options: CallOptions = {}) =>
      new Promise((resolve, reject) => {
        channel.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          options.metadata ?? new Metadata(),
          { deadline: Date.now() + (options.deadlineMs ?? defaults.deadlineMs) },
          (err: ServiceError | null, value?: unknown) => {
            if (err) reject(new GrpcCallError(method.path, err.code, err.details));
            else resolve(value);
          },
        );
      });
  }
  return { client: client as PromiseClient<D>, close: () => channel.close() };
}
