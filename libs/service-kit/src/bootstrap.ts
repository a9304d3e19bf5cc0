import { ConsoleLogger, DynamicModule, ExceptionFilter, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { AdminErrorFilter } from './admin-error.filter';

export interface GrpcServerOptions {
  /** host:port to bind, e.g. 127.0.0.1:50051. */
  url: string;
  /** Proto package, e.g. asc.policy.v1 (use the generated *_PACKAGE_NAME constant). */
  package: string;
  protoFile: string;
}

export interface ServiceBootstrapOptions {
  name: string;
  module: DynamicModule;
  http: { host: string; port: number; bodyLimitBytes?: number };
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
    app.connectMicroservice<MicroserviceOptions>(
      {
        transport: Transport.GRPC,
        options: {
          url: options.grpc.url,
          package: options.grpc.package,
          protoPath: options.grpc.protoFile,
          loader: { keepCase: false, longs: Number, enums: Number, defaults: true, oneofs: true },
        },
      },
      { inheritAppConfig: true },
    );
    await app.startAllMicroservices();
  }
  await app.listen(options.http.port, options.http.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : options.http.port;
  return {
    name: options.name,
    httpUrl: `http://${options.http.host}:${port}`,
    app,
    close: () => app.close(),
  };
}
