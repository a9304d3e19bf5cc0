import { strict as assert } from 'node:assert';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Server, ServerCredentials, type Metadata } from '@grpc/grpc-js';
import { context, trace, SpanKind } from '@opentelemetry/api';
import { createGrpcClient } from './grpc-client';
import { initTelemetry } from './telemetry';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

/** A minimal OTLP/HTTP (JSON) receiver: records every span exported to /v1/traces. */
function otlpReceiver(): Promise<{ url: string; spans: OtlpSpan[]; server: HttpServer }> {
  const spans: OtlpSpan[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
      };
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, spans, server });
    }),
  );
}

const definition = {
  ping: {
    path: '/asc.test.v1.TestService/Ping',
    requestStream: false as const,
    responseStream: false as const,
    requestSerialize: (v: string) => Buffer.from(v),
    responseDeserialize: (b: Buffer) => b.toString(),
  },
};

describe('W3C trace context over gRPC metadata, exported over OTLP', () => {
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  const server = new Server();
  const seen: string[] = [];
  let port = 0;

  before(async () => {
    receiver = await otlpReceiver();
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
    initTelemetry('asc-test');
    server.addService(
      { ping: { ...definition.ping, requestDeserialize: (b: Buffer) => b.toString(), responseSerialize: (v: string) => Buffer.from(v), originalName: 'ping' } },
      {
        ping: (call: { metadata: Metadata }, callback: (err: null, value: string) => void) => {
          seen.push(String(call.metadata.get('traceparent')[0] ?? ''));
          callback(null, 'pong');
        },
      },
    );
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  });
  after(async () => {
    server.forceShutdown();
    receiver.server.close();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  });

  it('a call made inside a span carries its traceparent; the span reaches the OTLP receiver', async () => {
    const client = createGrpcClient(definition, `127.0.0.1:${port}`, { security: { mode: 'insecure', identity: 'test' }, service: 'test' });
    const tracer = trace.getTracer('test');
    const span = tracer.startSpan('ingress request', { kind: SpanKind.SERVER });
    await context.with(trace.setSpan(context.active(), span), () => client.client.ping('x'));
    span.end();
    const { traceId, spanId } = span.spanContext();
    assert.equal(seen[0], `00-${traceId}-${spanId}-01`);
    const provider = trace.getTracerProvider() as unknown as { getDelegate(): { forceFlush(): Promise<void> } };
    await provider.getDelegate().forceFlush();
    assert.ok(receiver.spans.some((s) => s.traceId === traceId && s.spanId === spanId && s.name === 'ingress request'));
    client.close();
  });
});
