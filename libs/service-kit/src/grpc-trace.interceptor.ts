import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { InterceptingCall, Metadata, type Interceptor } from '@grpc/grpc-js';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Observable } from 'rxjs';

/**
 * grpc-js client interceptor: puts the active W3C trace context (`traceparent`,
 * `tracestate`) into the call's metadata, so the callee's span joins the caller's trace.
 * A header the caller set explicitly wins.
 */
export const traceContextClientInterceptor: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      for (const [key, value] of Object.entries(carrier)) if (metadata.get(key).length === 0) metadata.set(key, value);
      next(metadata, listener);
    },
  });

const tracer = trace.getTracer('asc-grpc');

/**
 * Nest interceptor for gRPC handlers: a SERVER span per call, child of the caller's trace
 * context from the metadata, and the handler runs inside it (so its own calls propagate).
 * HTTP requests pass through untouched.
 */
@Injectable()
export class GrpcServerSpanInterceptor implements NestInterceptor {
  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'rpc') return next.handle();
    const metadata = ctx.switchToRpc().getContext<unknown>();
    const carrier: Record<string, string> = {};
    if (metadata instanceof Metadata) {
      for (const key of ['traceparent', 'tracestate']) {
        const value = metadata.get(key)[0];
        if (typeof value === 'string') carrier[key] = value;
      }
    }
    const parent = propagation.extract(context.active(), carrier);
    const name = `${ctx.getClass().name}.${ctx.getHandler().name}`;
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.method': ctx.getHandler().name } }, parent);
    const active = trace.setSpan(parent, span);
    return new Observable((subscriber) => {
      const subscription = context.with(active, () => next.handle()).subscribe({
        next: (value) => subscriber.next(value),
        error: (err: unknown) => {
          span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
          span.end();
          subscriber.error(err);
        },
        complete: () => {
          span.end();
          subscriber.complete();
        },
      });
      return () => subscription.unsubscribe();
    });
  }
}
