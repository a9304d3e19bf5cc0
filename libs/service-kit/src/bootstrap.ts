import { ConsoleLogger, DynamicModule, ExceptionFilter, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { AdminErrorFilter } from './admin-error.filter';
import { GrpcCallerGuard, grpcServerCredentials, GrpcSecurity } from './grpc-security';

export interface GrpcServerOptions {
  /** host:port to bind, e.g. 127.0.0.1:50051. */
  url: string;
  /** Proto package, e.g. asc.policy.v1 (use the generated *_PACKAGE_NAME constant). */
  package: string;
  protoFile: string;
  /** mTLS (client certificate required) or the dev plaintext flag; see grpc-security.ts. */
  security: GrpcSecurity;
  /** Only for a public edge whose callers authenticate otherwise (ingress: API keys). */
  requireClientCertificate?: boolean;
}

export interface ServiceBootstrapOptions {
  name: string;
  module: DynamicModule;
  http: { host: string; port: number; bodyLimitBytes?: number };
  /**
   * A separate HTTP server for /healthz, /readyz and /metrics (ingress: its data-plane
   * port serves only the provider APIs). Without it, the main HTTP port serves them.
   */
  ops?: { host: string; port: number; module: DynamicModule | ((app: NestFastifyApplication) => DynamicModule) };
  grpc?: GrpcServerOptions;
  logger?: LoggerService;
  /**
   * Catches every HTTP error, including those raised before a route runs (malformed JSON,
   * body too large). Defaults to the admin shape `{ error: { code, message } }`.
   */
  errorFilter?: ExceptionFilter;
}

export interface RunningService {
  readonly name: string;
  readonly httpUrl: string;
  /** The ops server's URL when it runs apart from the main HTTP port. */
  readonly opsUrl?: string;
  readonly app: NestFastifyApplication;
  close(): Promise<void>;
}

export function createLogger(level: string, json = process.env.ASC_LOG_FORMAT !== 'text'): LoggerService {
  const order: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];
  const index = Math.max(0, order.indexOf(level === 'info' ? 'log' : (level as LogLevel)));
  return new ConsoleLogger({ json, logLevels: order.slice(0, index + 1) });
}

/**
 * Starts one service as a Nest hybrid application: HTTP (health, metrics, admin or data
 * plane) on Fastify and, when configured, a gRPC server (@nestjs/microservices on
 * @grpc/grpc-js) loading the service's contract from proto/.
 */
export async function bootstrapService(options: ServiceBootstrapOptions): Promise<RunningService> {
  const adapter = new FastifyAdapter({
    bodyLimit: options.http.bodyLimitBytes ?? 1024 * 1024,
    // Keep-alive friendly defaults for a gateway sitting behind a load balancer.
    keepAliveTimeout: 65_000,
  });
  const app = await NestFactory.create<NestFastifyApplication>(options.module, adapter, {
    logger: options.logger ?? createLogger(process.env.LOG_LEVEL ?? 'info'),
    abortOnError: false,
  });
  app.useGlobalFilters(options.errorFilter ?? new AdminErrorFilter());
  if (options.grpc) {
    // Every RPC is authorized by the caller's certificate identity (default deny).
    app.useGlobalGuards(new GrpcCallerGuard(options.grpc.security));
    app.connectMicroservice<MicroserviceOptions>(
      {
        transport: Transport.GRPC,
        options: {
          url: options.grpc.url,
          package: options.grpc.package,
          protoPath: options.grpc.protoFile,
          credentials: grpcServerCredentials(options.grpc.security, { requireClientCertificate: options.grpc.requireClientCertificate ?? true }),
          loader: { keepCase: false, longs: Number, enums: Number, defaults: true, oneofs: true },
        },
      },
      { inheritAppConfig: true },
    );
    await app.startAllMicroservices();
  }
  let ops: NestFastifyApplication | undefined;
  try {
    await app.listen(options.http.port, options.http.host);
    if (options.ops) {
      // A function receives the started service, so the ops server can serve its providers (e.g. an admin API).
      const opsModule = typeof options.ops.module === 'function' ? options.ops.module(app) : options.ops.module;
      ops = await NestFactory.create<NestFastifyApplication>(opsModule, new FastifyAdapter(), {
        logger: options.logger ?? createLogger(process.env.LOG_LEVEL ?? 'info'),
        abortOnError: false,
      });
      ops.useGlobalFilters(new AdminErrorFilter());
      await ops.listen(options.ops.port, options.ops.host);
    }
  } catch (err) {
    await ops?.close().catch(() => undefined);
    await app.close().catch(() => undefined);
    throw err;
  }
  return {
    name: options.name,
    httpUrl: urlOf(app, options.http),
    ...(ops && options.ops ? { opsUrl: urlOf(ops, options.ops) } : {}),
    app,
    close: async () => {
      await ops?.close();
      await app.close();
    },
  };
}

function urlOf(app: NestFastifyApplication, http: { host: string; port: number }): string {
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : http.port;
  return `http://${http.host}:${port}`;
}
