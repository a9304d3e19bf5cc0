// Time to first token the client sees, and CPU per streamed request, with guardrails on
// streamed answers off and on: the request runner with its built-in steps (policy caps,
// guardrails) against a paced simulator, a fake control plane (no services), in one process.
//
//   npm run build && node -r ./tools/scripts/register-paths.js dist/libs/ingress/src/guardrails-stream.bench.js [--tokens-per-sec 50] [--requests 20]
//
// "TTFT" is the time from the start of the request to the first write that carries answer
// text; the simulator's reply is prose (no PII), so what is measured is the hold, not redaction.
import { parseArgs } from 'node:util';
import { policyV1 } from '@asc/contracts';
import { MemoryEventBus } from '@asc/events';
import { OpenAICompatibleClient } from '@asc/providers';
import { ServiceMetrics } from '@asc/service-kit';
import { startSimulator } from '@asc/simulator';
import { hashApiKey } from '@asc/tenancy';
import { ControlPlane, Deployment, PolicyDecision, Principal } from './control-plane.port';
import { allowDecision, testPrincipal } from './decision.fixture';
import { IngressMetrics } from './ingress.metrics';
import { DEFAULT_RESILIENCE } from './ingress.tokens';
import { RequestRunner } from './request-runner';
import { ResponseSink } from './runner.types';
import { GuardrailsStep } from './steps/guardrails.step';
import { PolicyCapsStep } from './steps/policy-caps.step';

const { values } = parseArgs({ options: { 'tokens-per-sec': { type: 'string', default: '50' }, requests: { type: 'string', default: '20' } } });
const tokensPerSec = Number(values['tokens-per-sec']);
const requests = Number(values.requests);
const KEY = 'asc_guardrails-stream-bench-key-01';
const { GUARDRAIL_ACTION_REDACT: REDACT } = policyV1.GuardrailAction;
const ALL = ['email', 'phone', 'us_ssn', 'credit_card', 'iban', 'ip_address', 'date_of_birth', 'medical_record_number'];
const CLASS_ONLY = ['email', 'phone', 'credit_card', 'iban', 'ip_address'];

function guardrails(detectors: string[], applyToResponse: boolean, injection: boolean): policyV1.GuardrailConfig {
  return {
    detectors: detectors.map((detector) => ({ detector, action: REDACT })),
    medicalRecordPatterns: [],
    customPatterns: [],
    denyTerms: [],
    denyTermsAction: REDACT,
    injectionPatterns: [],
    builtinInjectionPatterns: injection,
    injectionAction: REDACT,
    applyToResponse,
  };
}

const CONFIGS: Array<[string, policyV1.GuardrailConfig | undefined]> = [
  ['no guardrails', undefined],
  ['prompt only (every detector + injection)', guardrails(ALL, false, true)],
  ['answers too: e-mail, phone, card, IBAN, IP', guardrails(CLASS_ONLY, true, false)],
  ['answers too: every detector', guardrails(ALL, true, false)],
  ['answers too: every detector + injection', guardrails(ALL, true, true)],
];

let current: policyV1.GuardrailConfig | undefined;
const principal: Principal = testPrincipal({ tenantId: 'acme', appId: 'app_1', keyId: 'key_1' });

async function main(): Promise<void> {
  const sim = await startSimulator({ port: 0, tokensPerSec, replyWords: 150 });
  const deployment: Deployment = {
    id: 'dep_1',
    provider: 'openai',
    upstreamModel: 'gpt-4o-mini',
    region: 'eu-west-1',
    baseUrl: `${sim.url}/openai/v1`,
    credentialId: 'cred_1',
    price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2, cachedInputPerMtokUsd: 0.5 },
    weight: 100,
    priority: 100,
    operations: [],
    timeouts: undefined,
    tenantOwned: false,
  };
  const controlPlane: ControlPlane = {
    authenticate: async (hash: string) => (hash === hashApiKey(KEY) ? principal : undefined),
    decide: async (): Promise<PolicyDecision> => allowDecision({ guardrails: current, appId: 'app_1' }),
    plan: async () => ({ deployments: [deployment], configVersion: 1 }),
    listModels: async () => [],
    lease: async () => ({ leaseId: 'l', credentialId: 'cred_1', version: 1, secret: 'sk-bench', expiresAtMs: Date.now() + 3_600_000 }),
    invalidate: () => undefined,
    close: async () => undefined,
  } as unknown as ControlPlane;
  const bus = new MemoryEventBus({ publisher: { lingerMs: 0 } });
  const metrics = new IngressMetrics(new ServiceMetrics('ingress', false), bus);
  const runner = new RequestRunner(controlPlane, bus, new OpenAICompatibleClient(), { resilience: DEFAULT_RESILIENCE } as never, [new PolicyCapsStep(), new GuardrailsStep()], metrics);
  const prompt = 'The customer asked about their order and wanted to know when the package would arrive; we checked the warehouse records and the shipment left on Tuesday.';

  const once = async (): Promise<{ ttft: number; total: number; cpu: number; chars: number }> => {
    let first = 0;
    let text = '';
    const t0 = performance.now();
    const sink: ResponseSink = {
      started: false,
      closed: false,
      json: (status: number, body: unknown) => {
        text += `${status} ${typeof body === 'string' ? body : JSON.stringify(body)}`;
      },
      openStream() {
        (sink as { started: boolean }).started = true;
      },
      write(t: string) {
        if (!first && t.includes('"content":"') && !t.includes('"content":""')) first = performance.now();
        text += t;
      },
      end: () => undefined,
      onClose: () => undefined,
    };
    const c0 = process.cpuUsage();
    await runner.run(
      { api: 'openai', operation: 'chat.completions', recordApi: 'openai.chat.completions', body: { model: 'm', stream: true, messages: [{ role: 'user', content: prompt }] }, header: (n) => (n === 'authorization' ? `Bearer ${KEY}` : undefined) },
      sink,
    );
    const c = process.cpuUsage(c0);
    if (!first) throw new Error(`no answer text: ${text.slice(0, 300)}`);
    return { ttft: first - t0, total: performance.now() - t0, cpu: (c.user + c.system) / 1000, chars: text.length };
  };

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rows = [];
  for (const [name, config] of CONFIGS) {
    current = config;
    for (let i = 0; i < 3; i++) await once();
    const runs = [];
    for (let i = 0; i < requests; i++) runs.push(await once());
    rows.push({
      config: name,
      'TTFT p50 ms': median(runs.map((r) => r.ttft)).toFixed(1),
      'stream p50 ms': median(runs.map((r) => r.total)).toFixed(1),
      'CPU p50 ms per request': median(runs.map((r) => r.cpu)).toFixed(2),
    });
  }
  console.log(`${requests} sequential streamed requests per configuration, ~150-word answers, simulator at ${tokensPerSec || 'unpaced'} tokens/s`);
  console.table(rows);
  await sim.close();
  await bus.close();
}

void main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
