import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { policyV1 } from '@asc/contracts';
import { decodeOpenAIEmbeddingsRequest, type CanonicalResponse, type CanonicalStreamEvent } from '@asc/providers';
import type { PolicyDecision } from '../control-plane.port';
import { IngressError } from '../ingress.error';
import { RequestContext } from '../request-context';
import { parseInboundChat } from '../wire-apis';
import { GuardrailsStep } from './guardrails.step';
import { allowDecision } from '../decision.fixture';
import { PolicyCapsStep } from './policy-caps.step';

const { GUARDRAIL_ACTION_ALLOW: ALLOW, GUARDRAIL_ACTION_REDACT: REDACT, GUARDRAIL_ACTION_BLOCK: BLOCK } = policyV1.GuardrailAction;

function decision(overrides: Partial<PolicyDecision> = {}): PolicyDecision {
  return allowDecision({ appId: 'app_1', ...overrides });
}

function guardrails(overrides: Partial<policyV1.GuardrailConfig>): policyV1.GuardrailConfig {
  return {
    detectors: [],
    medicalRecordPatterns: [],
    customPatterns: [],
    denyTerms: [],
    denyTermsAction: BLOCK,
    injectionPatterns: [],
    builtinInjectionPatterns: false,
    injectionAction: BLOCK,
    applyToResponse: false,
    ...overrides,
  };
}

function chatContext(body: Record<string, unknown>, d: PolicyDecision): RequestContext {
  const ctx = new RequestContext('openai', 'openai.chat.completions', 'chat.completions', undefined);
  ctx.decision = d;
  ctx.chat = parseInboundChat('openai', { model: 'm', ...body });
  ctx.stream = ctx.chat.stream;
  return ctx;
}

const response = (text: string): CanonicalResponse => ({ id: 'r', model: 'm', content: [{ type: 'text', text }], finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 1 } });

describe('policy caps step', () => {
  it('refuses a prompt over max_input_tokens and an output cap over max_output_tokens, naming the parameter', () => {
    const step = new PolicyCapsStep();
    const long = chatContext({ messages: [{ role: 'user', content: 'x'.repeat(400) }] }, decision({ maxInputTokens: 50 }));
    assert.throws(() => step.before(long), (e: unknown) => e instanceof IngressError && e.httpStatus === 400 && e.param === 'messages');
    const big = chatContext({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 }, decision({ maxOutputTokens: 100 }));
    assert.throws(() => step.before(big), (e: unknown) => e instanceof IngressError && e.code === 'max_tokens_too_large' && e.param === 'max_completion_tokens');
  });

  it('caps a request that asked for no limit, and forces the rewritten request to be sent', () => {
    const ctx = chatContext({ messages: [{ role: 'user', content: 'hi' }] }, decision({ maxOutputTokens: 100 }));
    new PolicyCapsStep().before(ctx);
    assert.equal(ctx.chat!.canonical!.maxOutputTokens, 100);
    assert.equal(ctx.chat!.forceTranslate, true);
  });
});

describe('guardrails step', () => {
  it('redacts the prompt, forces re-encoding and records findings on the event, never the value', () => {
    const ctx = chatContext(
      { messages: [{ role: 'user', content: 'mail jane@example.com' }] },
      decision({ guardrails: guardrails({ detectors: [{ detector: 'email', action: REDACT }] }) }),
    );
    new GuardrailsStep().before(ctx);
    assert.deepEqual(ctx.chat!.canonical!.messages[0], { role: 'user', content: [{ type: 'text', text: 'mail [EMAIL_1]' }] });
    assert.equal(ctx.chat!.forceTranslate, true);
    assert.deepEqual(ctx.eventExtras.guardrails, [{ detector: 'email', action: 'redact', count: 1 }]);
    assert.ok(!JSON.stringify(ctx.eventExtras).includes('jane@example.com'));
  });

  it('blocks with a 400 that names the detector and not the match', () => {
    const ctx = chatContext(
      { messages: [{ role: 'user', content: 'ssn 123-45-6789' }] },
      decision({ guardrails: guardrails({ detectors: [{ detector: 'us_ssn', action: BLOCK }] }) }),
    );
    assert.throws(
      () => new GuardrailsStep().before(ctx),
      (e: unknown) => e instanceof IngressError && e.code === 'guardrail_blocked' && e.httpStatus === 400 && /us_ssn/.test(e.message) && !e.message.includes('123-45-6789'),
    );
  });

  it('scans a non-streamed response with the prompt placeholders when apply_to_response is on', () => {
    const ctx = chatContext(
      { messages: [{ role: 'user', content: 'mail jane@example.com' }] },
      decision({ guardrails: guardrails({ detectors: [{ detector: 'email', action: REDACT }, { detector: 'us_ssn', action: BLOCK }], applyToResponse: true }) }),
    );
    new GuardrailsStep().before(ctx);
    const filtered = ctx.chat!.filterResponse!(response('I wrote to jane@example.com and bob@example.com'));
    assert.deepEqual(filtered.content, [{ type: 'text', text: 'I wrote to [EMAIL_1] and [EMAIL_2]' }]);
    assert.deepEqual(ctx.eventExtras.guardrails, [{ detector: 'email', action: 'redact', count: 3 }]);
    assert.throws(() => ctx.chat!.filterResponse!(response('his SSN is 123-45-6789')), (e: unknown) => e instanceof IngressError && e.httpStatus === 403);
  });

  it('scans a streamed response event by event, ends it through onOutput on a block and records the findings after', () => {
    const step = new GuardrailsStep();
    const ctx = chatContext(
      { messages: [{ role: 'user', content: 'mail jane@example.com' }], stream: true },
      decision({ guardrails: guardrails({ detectors: [{ detector: 'email', action: REDACT }, { detector: 'us_ssn', action: BLOCK }], applyToResponse: true }) }),
    );
    step.before(ctx);
    assert.equal(ctx.chat!.forceTranslate, true);
    // A cached answer replayed as a stream is scanned whole, with the same placeholders.
    const cached = new GuardrailsStep();
    const hit = chatContext({ messages: [{ role: 'user', content: 'mail jane@example.com' }], stream: true }, ctx.decision!);
    cached.before(hit);
    assert.deepEqual(hit.chat!.filterResponse!(response('to jane@example.com')).content, [{ type: 'text', text: 'to [EMAIL_1]' }]);
    const filter = ctx.chat!.filterStream!;
    const text = (events: CanonicalStreamEvent[]) => events.map((e) => (e.type === 'text_delta' ? e.text : '')).join('');
    let out = '';
    for (const piece of ['I wrote to ja', 'ne@exam', 'ple.com today']) out += text(filter({ type: 'text_delta', text: piece }));
    assert.equal(step.onOutput(ctx), undefined);
    out += text(filter({ type: 'text_delta', text: ', his SSN is 123-45-6789 as asked.' }));
    out += text(filter({ type: 'finish', reason: 'stop' }));
    assert.equal(out, 'I wrote to [EMAIL_1]', 'the text before the block went out redacted; nothing of or after the SSN');
    const stop = step.onOutput(ctx);
    assert.ok(stop instanceof IngressError && stop.code === 'guardrail_blocked' && stop.httpStatus === 403 && /us_ssn/.test(stop.message));
    assert.ok(!stop.message.includes('123-45-6789'));
    ctx.reasonCode = 'guardrail_blocked';
    step.settle(ctx);
    assert.equal(ctx.status, 'client_error');
    assert.deepEqual(ctx.eventExtras.guardrails, [
      { detector: 'email', action: 'redact', count: 2 },
      { detector: 'us_ssn', action: 'block', count: 1 },
    ]);
  });

  it('embeddings: redacts string inputs in the body and the decoded request; token ids pass only when no guardrail enforces', () => {
    const embeddingsContext = (input: unknown, d: PolicyDecision) => {
      const ctx = new RequestContext('openai', 'openai.embeddings', 'embeddings', undefined);
      ctx.decision = d;
      const body = { model: 'e', input };
      ctx.embeddings = { body, request: decodeOpenAIEmbeddingsRequest(body) };
      return ctx;
    };
    const redact = decision({ guardrails: guardrails({ detectors: [{ detector: 'email', action: REDACT }] }) });
    const ctx = embeddingsContext(['to jane@example.com', 'again jane@example.com', 'nothing'], redact);
    new GuardrailsStep().before(ctx);
    assert.deepEqual(ctx.embeddings!.body.input, ['to [EMAIL_1]', 'again [EMAIL_1]', 'nothing']);
    assert.deepEqual(ctx.embeddings!.request.input, ['to [EMAIL_1]', 'again [EMAIL_1]', 'nothing']);
    assert.deepEqual(ctx.eventExtras.guardrails, [{ detector: 'email', action: 'redact', count: 2 }]);
    const single = embeddingsContext('to jane@example.com', redact);
    new GuardrailsStep().before(single);
    assert.equal(single.embeddings!.body.input, 'to [EMAIL_1]');
    assert.throws(
      () => new GuardrailsStep().before(embeddingsContext([[1, 2, 3]], redact)),
      (e: unknown) => e instanceof IngressError && e.code === 'guardrail_cannot_scan' && e.httpStatus === 400 && e.param === 'input',
    );
    const counting = embeddingsContext([[1, 2, 3]], decision({ guardrails: guardrails({ detectors: [{ detector: 'email', action: ALLOW }] }) }));
    new GuardrailsStep().before(counting);
    assert.deepEqual(counting.embeddings!.request.input, [[1, 2, 3]]);
  });

  it('does nothing without guardrails in the decision', () => {
    const ctx = chatContext({ messages: [{ role: 'user', content: 'mail jane@example.com' }] }, decision());
    const before = ctx.chat!.canonical;
    new GuardrailsStep().before(ctx);
    assert.equal(ctx.chat!.canonical, before);
    assert.equal(ctx.chat!.forceTranslate, undefined);
  });
});
