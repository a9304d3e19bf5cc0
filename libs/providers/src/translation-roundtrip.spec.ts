import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CanonicalMessage, CanonicalRequest, CanonicalResponse, CanonicalStreamEvent, collectStream } from './canonical';
import { SseParser } from './sse';
import { StreamUsageTracker } from './stream-usage.tracker';
import { WIRE_CODECS, WireApi } from './translation.registry';

// Property tests: translation through any chain of wire APIs preserves text, tool calls
// (names, arguments as JSON values, ids mapped consistently) and usage.

const APIS: WireApi[] = ['openai', 'anthropic', 'mistral'];
const PATHS: WireApi[][] = APIS.flatMap((a) => APIS.map((b) => [a, b, 'openai' as WireApi]));
const RUNS = { numRuns: Number(process.env.FC_RUNS ?? 60) };

const text = fc.string({ minLength: 1, maxLength: 20 });
const jsonArgs = fc.dictionary(fc.stringMatching(/^[a-z_]{1,8}$/), fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.boolean()), { maxKeys: 3 });
const toolName = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_-]{0,15}$/);
const toolId = fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.stringMatching(/^call_[A-Za-z0-9]{24}$/), fc.stringMatching(/^[A-Za-z0-9]{9}$/));
const image = fc.oneof(
  fc.webUrl().map((url) => ({ type: 'image' as const, source: { kind: 'url' as const, url } })),
  fc.base64String({ minLength: 4, maxLength: 20 }).map((data) => ({ type: 'image' as const, source: { kind: 'base64' as const, mediaType: 'image/png', data } })),
);
const userParts = fc.array(fc.oneof(text.map((t) => ({ type: 'text' as const, text: t })), image), { minLength: 1, maxLength: 3 });

const exchange = fc.record({
  user: userParts,
  assistantText: fc.option(text, { nil: undefined }),
  calls: fc.array(fc.record({ name: toolName, args: jsonArgs, result: text }), { maxLength: 2 }),
});

const requestArb = fc
  .record({
    system: fc.array(text, { maxLength: 2 }),
    exchanges: fc.array(exchange, { minLength: 1, maxLength: 3 }),
    ids: fc.uniqueArray(toolId, { minLength: 6, maxLength: 6 }),
    tools: fc.array(fc.record({ name: toolName, description: text }), { maxLength: 2 }),
    maxOutputTokens: fc.integer({ min: 1, max: 4096 }),
    temperature: fc.option(fc.integer({ min: 0, max: 10 }).map((n) => n / 10), { nil: undefined }),
    stop: fc.option(fc.array(text, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    stream: fc.boolean(),
  })
  .map((g): CanonicalRequest => {
    const messages: CanonicalMessage[] = [];
    let next = 0;
    g.exchanges.forEach((ex, i) => {
      messages.push({ role: 'user', content: ex.user });
      const calls = ex.calls.map((c) => ({ id: g.ids[next++ % g.ids.length] + (next > g.ids.length ? String(next) : ''), name: c.name, argumentsJson: JSON.stringify(c.args) }));
      // Strict alternation (Anthropic merges consecutive same-role turns, which is equivalent but not identical).
      const assistantText = ex.assistantText ?? (calls.length ? undefined : 'ok');
      messages.push({ role: 'assistant', content: assistantText === undefined ? [] : [{ type: 'text', text: assistantText }], toolCalls: calls });
      ex.calls.forEach((c, j) => messages.push({ role: 'tool', toolCallId: calls[j].id, content: [{ type: 'text', text: c.result }] }));
      if (!calls.length && i === g.exchanges.length - 1) messages.push({ role: 'user', content: [{ type: 'text', text: 'go on' }] });
    });
    const req: CanonicalRequest = { model: 'm', system: g.system, messages, maxOutputTokens: g.maxOutputTokens, stream: g.stream, streamUsage: true };
    if (g.tools.length) {
      req.tools = g.tools.map((t) => ({ name: t.name, description: t.description, jsonSchema: { type: 'object', properties: {} } }));
      req.toolChoice = 'auto';
    }
    if (g.temperature !== undefined) req.temperature = g.temperature;
    if (g.stop) req.stop = g.stop;
    return req;
  });

/** The request with tool call ids replaced by their first-seen ordinal (ids must map consistently, not literally). */
function normalizeRequest(req: CanonicalRequest): unknown {
  const ids = new Map<string, number>();
  const idOf = (id: string) => {
    if (!ids.has(id)) ids.set(id, ids.size);
    return ids.get(id);
  };
  return {
    system: req.system,
    messages: req.messages.map((m) => {
      if (m.role === 'assistant') return { ...m, toolCalls: m.toolCalls.map((c) => ({ id: idOf(c.id), name: c.name, args: JSON.parse(c.argumentsJson) as unknown })) };
      if (m.role === 'tool') return { ...m, toolCallId: idOf(m.toolCallId) };
      return m;
    }),
    tools: req.tools,
    toolChoice: req.toolChoice,
    maxOutputTokens: req.maxOutputTokens,
    temperature: req.temperature,
    stop: req.stop,
    stream: req.stream,
    distinctIds: ids.size,
  };
}

function throughRequest(req: CanonicalRequest, path: WireApi[]): CanonicalRequest {
  let current = req;
  for (const api of path) current = WIRE_CODECS[api].decodeRequest(WIRE_CODECS[api].encodeRequest(current, 'm'));
  return current;
}

const responseArb = fc
  .record({
    texts: fc.array(text, { maxLength: 2 }),
    calls: fc.array(fc.record({ id: toolId, name: toolName, args: jsonArgs }), { maxLength: 2 }),
    finish: fc.constantFrom('stop' as const, 'length' as const, 'content_filter' as const),
    input: fc.nat(100_000),
    output: fc.nat(10_000),
    cached: fc.option(fc.nat(100), { nil: undefined }),
    reasoning: fc.option(fc.nat(100), { nil: undefined }),
  })
  .filter((g) => new Set(g.calls.map((c) => c.id)).size === g.calls.length && (g.texts.length > 0 || g.calls.length > 0))
  .map((g): CanonicalResponse => ({
    id: 'resp_1',
    model: 'm',
    content: [...g.texts.map((t) => ({ type: 'text' as const, text: t })), ...g.calls.map((c) => ({ type: 'tool_call' as const, id: c.id, name: c.name, argumentsJson: JSON.stringify(c.args) }))],
    finishReason: g.calls.length ? 'tool_calls' : g.finish,
    usage: {
      inputTokens: g.input + (g.cached ?? 0),
      outputTokens: g.output + (g.reasoning ?? 0),
      ...(g.cached !== undefined ? { cachedInputTokens: g.cached } : {}),
      ...(g.reasoning !== undefined ? { reasoningTokens: g.reasoning } : {}),
    },
  }));

function normalizeResponse(res: CanonicalResponse, path: WireApi[]): unknown {
  const viaMistral = path.includes('mistral');
  return {
    text: res.content.map((b) => (b.type === 'text' ? b.text : '')).join(''),
    calls: res.content.flatMap((b) => (b.type === 'tool_call' ? [{ name: b.name, args: JSON.parse(b.argumentsJson) as unknown }] : [])),
    callIds: new Set(res.content.flatMap((b) => (b.type === 'tool_call' ? [b.id] : []))).size,
    finish: res.finishReason,
    input: res.usage.inputTokens,
    output: res.usage.outputTokens,
    // Mistral reports neither cache nor reasoning counts; elsewhere "not reported" reads as 0.
    cached: viaMistral ? undefined : (res.usage.cachedInputTokens ?? 0),
    reasoning: viaMistral ? undefined : (res.usage.reasoningTokens ?? 0),
  };
}

function throughResponse(res: CanonicalResponse, path: WireApi[]): CanonicalResponse {
  let current = res;
  for (const api of path) current = WIRE_CODECS[api].decodeResponse(WIRE_CODECS[api].encodeResponse(current, 'm'));
  return current;
}

function toEvents(res: CanonicalResponse, textChunks: number): CanonicalStreamEvent[] {
  const events: CanonicalStreamEvent[] = [{ type: 'start', id: res.id, model: res.model }];
  let tool = 0;
  for (const b of res.content) {
    if (b.type === 'text') {
      const size = Math.max(1, Math.ceil(b.text.length / textChunks));
      for (let i = 0; i < b.text.length; i += size) events.push({ type: 'text_delta', text: b.text.slice(i, i + size) });
    } else {
      const index = tool++;
      events.push({ type: 'tool_call_start', index, id: b.id, name: b.name });
      const half = Math.floor(b.argumentsJson.length / 2);
      events.push({ type: 'tool_call_delta', index, argumentsDelta: b.argumentsJson.slice(0, half) }, { type: 'tool_call_delta', index, argumentsDelta: b.argumentsJson.slice(half) });
    }
  }
  events.push({ type: 'finish', reason: res.finishReason }, { type: 'usage', usage: res.usage });
  return events;
}

function throughStream(events: CanonicalStreamEvent[], api: WireApi): CanonicalStreamEvent[] {
  const encoder = WIRE_CODECS[api].streamEncoder('m', true);
  let wire = '';
  for (const ev of events) wire += encoder.push(ev);
  wire += encoder.end();
  const parser = new SseParser();
  const decoder = WIRE_CODECS[api].streamDecoder();
  const out = [...parser.push(wire), ...parser.end()].flatMap((e) => decoder.push(e));
  assert.ok(decoder.done, `${api} stream did not end normally`);
  return out;
}

describe('translation round trips (fast-check)', () => {
  it('requests keep system, messages, text, images, tool calls and settings through every API pair', () => {
    fc.assert(
      fc.property(requestArb, fc.constantFrom(...PATHS), (req, path) => {
        assert.deepEqual(normalizeRequest(throughRequest(req, path)), normalizeRequest(req));
      }),
      RUNS,
    );
  });

  it('responses keep text, tool calls and usage through every API pair', () => {
    fc.assert(
      fc.property(responseArb, fc.constantFrom(...PATHS), (res, path) => {
        assert.deepEqual(normalizeResponse(throughResponse(res, path), path), normalizeResponse(res, path));
      }),
      RUNS,
    );
  });

  it('streams keep text, tool calls, finish and usage through every API pair, and match the non-stream body', () => {
    fc.assert(
      fc.property(responseArb, fc.constantFrom(...PATHS), fc.integer({ min: 1, max: 5 }), (res, path, chunks) => {
        let events = toEvents(res, chunks);
        for (const api of path) events = throughStream(events, api);
        assert.deepEqual(normalizeResponse(collectStream(events), path), normalizeResponse(res, path));
      }),
      RUNS,
    );
  });

  it('the usage tracker meters exactly what was reported, and flags an estimate when a stream is cut first', () => {
    fc.assert(
      fc.property(responseArb, fc.constantFrom(...APIS), fc.nat(), (res, api, cutSeed) => {
        const events = throughStream(toEvents(res, 3), api);
        const full = new StreamUsageTracker();
        events.forEach((e) => full.observe(e));
        const metered = full.usage();
        assert.deepEqual([metered.inputTokens, metered.outputTokens, metered.estimated, metered.complete], [res.usage.inputTokens, res.usage.outputTokens, false, true]);
        const cut = cutSeed % events.length;
        const partial = new StreamUsageTracker(42);
        events.slice(0, cut).forEach((e) => partial.observe(e));
        const u = partial.usage();
        const outputReported = events.slice(0, cut).some((e) => e.type === 'usage' && e.usage.outputTokens !== undefined);
        assert.equal(u.estimated, !outputReported || !events.slice(0, cut).some((e) => e.type === 'usage' && e.usage.inputTokens !== undefined));
        if (outputReported) assert.equal(u.outputTokens, res.usage.outputTokens);
      }),
      RUNS,
    );
  });
});
