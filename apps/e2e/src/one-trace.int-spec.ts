import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startSimulator } from '@asc/simulator';
import { eventually, missingInfra, ProductionSuite, startProductionSuite } from '@asc/testing';

interface RecordedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
}

interface OtlpJson {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> };
    scopeSpans?: Array<{ spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number }> }>;
  }>;
}

/** An OTLP/HTTP receiver (JSON, what the services' exporter sends): records every span with its service.name. */
function otlpReceiver(): Promise<{ url: string; spans: RecordedSpan[]; server: Server }> {
  const spans: RecordedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('json')) {
        res.writeHead(415).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpJson;
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, kind: s.kind });
        }
      }
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

const SIX = ['asc-ingress', 'asc-policy', 'asc-routing', 'asc-secrets', 'asc-metering', 'asc-audit'];

/**
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, one request is one trace across the six services
 * (separate processes on the real Postgres, Kafka and ClickHouse): ingress's server span is
 * the root, the policy, routing and secrets gRPC spans and the metering and audit consumer
 * spans are its children, and the trace id is stored with the ClickHouse row and the audit record.
 */
describe('one trace across ingress, policy, routing, secrets, metering and audit (OTLP)', async () => {
  const skip = await missingInfra('postgres', 'kafka', 'clickhouse');
  const run = randomBytes(4).toString('hex');
  const providerKey = `sk-sim-${randomBytes(12).toString('hex')}`;
  const tenant = `trace-${run}`;
  let receiver: Awaited<ReturnType<typeof otlpReceiver>> | undefined;
  let simulator: Awaited<ReturnType<typeof startSimulator>> | undefined;
  let suite: ProductionSuite | undefined;
  let apiKey = '';

  before(async () => {
    if (skip) return;
    receiver = await otlpReceiver();
    simulator = await startSimulator({ port: 0, acceptedKeys: [providerKey] });
    // Spans exported every 100 ms instead of 5 s.
    suite = await startProductionSuite({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' } });
    const admin = suite.admin;
    await admin.createTenant({ id: tenant, name: 'Trace' });
    const app = await admin.createApp(tenant, 'traced');
    apiKey = (await admin.createApiKey(tenant, { appId: app.id })).key;
    await admin.putPolicy(tenant, { allowedModels: ['chat'], allowedRegions: ['eu-west-1'] });
    const credential = await admin.createCredential({ name: 'sim', provider: 'openai', secret: providerKey });
    await admin.createDeployment({ model: 'chat', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'eu-west-1', baseUrl: `${simulator.url}/v1`, credentialId: credential.id, price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2 } });
  });

  after(async () => {
    for (const [name, p] of suite?.procs ?? []) {
      if (p.child.exitCode !== null) console.error(`${name} exited early (${p.child.exitCode}):\n${p.output().slice(-4000)}`);
    }
    await suite?.stop();
    await simulator?.close();
    receiver?.server.close();
  });

  it('records spans of all six services under one trace id, with parent links to the ingress request span', { skip }, async () => {
    const client = new OpenAI({ apiKey, baseURL: suite!.ingressBaseUrl, maxRetries: 0 });
    const { response } = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    const requestId = response.headers.get('x-request-id');
    assert.ok(requestId);
    const admin = suite!.admin;
    const row = await eventually(() => admin.meteredRequest(tenant, requestId), 30_000);
    const traceId = String(row.trace_id);
    assert.match(traceId, /^[0-9a-f]{32}$/, 'the ClickHouse row carries the trace id');
    const audit = await eventually(async () => {
      const r = await admin.auditRecords(tenant, requestId);
      assert.equal(r.records.length, 1);
      return r.records[0];
    }, 30_000);
    assert.equal(audit.traceId, traceId, 'the audit record carries the same trace id');

    const spans = await eventually(() => {
      const inTrace = receiver!.spans.filter((s) => s.traceId === traceId);
      const services = new Set(inTrace.map((s) => s.service));
      assert.deepEqual(SIX.filter((s) => !services.has(s)), [], `services in the trace so far: ${[...services].join(', ')}`);
      return inTrace;
    }, 30_000);
    // One root: ingress's server span for the request; every other span hangs off a span of this trace.
    const roots = spans.filter((s) => !s.parentSpanId);
    assert.equal(roots.length, 1, `roots: ${JSON.stringify(roots)}`);
    const root = roots[0];
    assert.equal(root.service, 'asc-ingress');
    assert.equal(root.kind, 2 /* SERVER */);
    const ids = new Set(spans.map((s) => s.spanId));
    for (const s of spans) if (s.parentSpanId) assert.ok(ids.has(s.parentSpanId), `${s.service} ${s.name}: parent ${s.parentSpanId} is not in the trace`);
    // The control plane's gRPC server spans and the consumers' spans are children of the request span.
    for (const service of ['asc-policy', 'asc-routing', 'asc-secrets']) {
      const server = spans.filter((s) => s.service === service && s.kind === 2);
      assert.ok(server.length >= 1, `${service} has a server span`);
      for (const s of server) assert.equal(s.parentSpanId, root.spanId, `${service} ${s.name} is a child of the ingress request span`);
    }
    for (const service of ['asc-metering', 'asc-audit']) {
      const consumer = spans.filter((s) => s.service === service && s.kind === 5 /* CONSUMER */);
      assert.ok(consumer.length >= 1, `${service} has a consumer span`);
      for (const s of consumer) assert.equal(s.parentSpanId, root.spanId, `${service} ${s.name} is a child of the ingress request span`);
    }
    // Other requests (the admin calls) are other traces, not mixed into this one.
    assert.ok(receiver!.spans.some((s) => s.traceId !== traceId));
  });
});
