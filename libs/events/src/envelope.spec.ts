import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createEvent, parseEvent, serializeEvent } from './envelope';
import { EventBusError } from './event-bus.error';
import { ALL_TOPICS, EVENT_CONTROL_CONFIG_CHANGED, EVENT_GATEWAY_REQUEST_COMPLETED, TOPIC_ADMIN_CHANGE_V1, TOPIC_CONTROL_CONFIG_V1, TOPIC_GATEWAY_REQUEST_V1, topicOf } from './event-map';
import { requestCompleted } from './request-completed.fixture';
import { uuidv7, uuidv7Time } from './uuidv7.util';

const TYPE = EVENT_GATEWAY_REQUEST_COMPLETED;
const ctx = { tenantId: 'tenant_a', source: 'asc/ingress' };
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('event map', () => {
  it('maps the request event to its versioned topic', () => {
    assert.equal(topicOf(TYPE), 'asc.gateway.request.v1');
    assert.deepEqual(ALL_TOPICS, [TOPIC_GATEWAY_REQUEST_V1, TOPIC_CONTROL_CONFIG_V1, TOPIC_ADMIN_CHANGE_V1]);
    assert.equal(topicOf(EVENT_CONTROL_CONFIG_CHANGED), TOPIC_CONTROL_CONFIG_V1);
  });
});

describe('createEvent', () => {
  it('wraps the payload in a CloudEvents-style envelope', () => {
    const before = Date.now();
    const event = createEvent(TYPE, { ...ctx, traceparent: TRACEPARENT }, requestCompleted());
    assert.equal(event.type, TYPE);
    assert.equal(event.version, 1);
    assert.equal(event.source, 'asc/ingress');
    assert.equal(event.tenantId, 'tenant_a');
    assert.equal(event.traceparent, TRACEPARENT);
    assert.match(event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(Date.parse(event.time) >= before && Date.parse(event.time) <= Date.now());
    assert.deepEqual(event.data, requestCompleted());
  });

  it('copies the payload, so a later change by the caller does not alter the event', () => {
    const data = requestCompleted();
    const event = createEvent(TYPE, ctx, data);
    data.outputTokens = 999;
    assert.equal(event.data.outputTokens, 48);
  });

  it('drops an invalid client-supplied traceparent instead of failing', () => {
    for (const bad of ['garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', `${TRACEPARENT}x`]) {
      const event = createEvent(TYPE, { ...ctx, traceparent: bad }, requestCompleted());
      assert.equal(event.traceparent, undefined);
      assert.equal('traceparent' in event, false);
    }
  });

  it('rejects a malformed payload with a stable code and without quoting values', () => {
    const bad = { ...requestCompleted(), decision: 'maybe-sk-secret', inputTokens: -1 } as unknown as ReturnType<typeof requestCompleted>;
    assert.throws(
      () => createEvent(TYPE, ctx, bad),
      (err: unknown) =>
        err instanceof EventBusError &&
        err.code === 'invalid_event' &&
        err.message.includes('decision') &&
        err.message.includes('inputTokens') &&
        !err.message.includes('sk-secret'),
    );
  });

  it('rejects a payload that names another tenant than the envelope', () => {
    assert.throws(
      () => createEvent(TYPE, ctx, requestCompleted({ tenantId: 'tenant_b' })),
      (err: unknown) => err instanceof EventBusError && err.code === 'invalid_event',
    );
  });

  it('rejects an empty tenant or source', () => {
    assert.throws(() => createEvent(TYPE, { ...ctx, tenantId: '' }, requestCompleted({ tenantId: '' })), EventBusError);
    assert.throws(() => createEvent(TYPE, { ...ctx, source: '' }, requestCompleted()), EventBusError);
  });
});

describe('serializeEvent / parseEvent', () => {
  it('round-trips an event from a string or from bytes', () => {
    const event = createEvent(TYPE, { ...ctx, traceparent: TRACEPARENT }, requestCompleted());
    const text = serializeEvent(event);
    assert.deepEqual(parseEvent(text), { ok: true, event });
    assert.deepEqual(parseEvent(Buffer.from(text)), { ok: true, event });
  });

  it('ignores unknown extra fields (additive changes stay version 1)', () => {
    const event = createEvent(TYPE, ctx, requestCompleted());
    const json = JSON.parse(serializeEvent(event)) as Record<string, unknown>;
    json.extra = 1;
    (json.data as Record<string, unknown>).newField = 'x';
    const parsed = parseEvent(JSON.stringify(json));
    assert.deepEqual(parsed, { ok: true, event });
  });

  it('reads a payload from an older producer without reasoningTokens/usageEstimated as 0/false', () => {
    const json = JSON.parse(serializeEvent(createEvent(TYPE, ctx, requestCompleted({ reasoningTokens: 5, usageEstimated: true })))) as {
      data: Record<string, unknown>;
    };
    delete json.data.reasoningTokens;
    delete json.data.usageEstimated;
    const parsed = parseEvent(JSON.stringify(json));
    assert.ok(parsed.ok);
    assert.equal(parsed.event.version, 1);
    assert.deepEqual(parsed.event.data, requestCompleted({ reasoningTokens: 0, usageEstimated: false }));
  });

  it('fills the defaults when a producer leaves the fields out, and carries them when set', () => {
    const { reasoningTokens: _r, usageEstimated: _u, ...old } = requestCompleted();
    const filled = createEvent(TYPE, ctx, old);
    assert.equal(filled.data.reasoningTokens, 0);
    assert.equal(filled.data.usageEstimated, false);
    const event = createEvent(TYPE, ctx, requestCompleted({ reasoningTokens: 32, usageEstimated: true }));
    const parsed = parseEvent(serializeEvent(event));
    assert.ok(parsed.ok && parsed.event.type === TYPE);
    assert.equal(parsed.event.data.reasoningTokens, 32);
    assert.equal(parsed.event.data.usageEstimated, true);
  });

  it('refuses a reasoningTokens or usageEstimated of the wrong kind', () => {
    for (const data of [{ reasoningTokens: -1 }, { reasoningTokens: 1.5 }, { reasoningTokens: '3' }, { usageEstimated: 1 }, { usageEstimated: null }]) {
      const json = JSON.parse(serializeEvent(createEvent(TYPE, ctx, requestCompleted()))) as { data: Record<string, unknown> };
      const result = parseEvent(JSON.stringify({ ...json, data: { ...json.data, ...data } }));
      assert.equal(result.ok, false);
      if (!result.ok) assert.equal(result.code, 'invalid_payload');
    }
  });

  const valid = () => JSON.parse(serializeEvent(createEvent(TYPE, ctx, requestCompleted()))) as Record<string, unknown>;
  const cases: Array<[string, string | Buffer | null, string]> = [
    ['null value', null, 'empty_message'],
    ['empty value', Buffer.alloc(0), 'empty_message'],
    ['not JSON', '{"id": sk-live-123', 'malformed_json'],
    ['JSON but not an object', '[1,2,3]', 'invalid_envelope'],
    ['missing id', JSON.stringify({ ...valid(), id: undefined }), 'invalid_envelope'],
    ['bad time', JSON.stringify({ ...valid(), time: 'yesterday' }), 'invalid_envelope'],
    ['unknown type', JSON.stringify({ ...valid(), type: 'asc.gateway.unknown' }), 'unknown_type'],
    ['future version', JSON.stringify({ ...valid(), version: 2 }), 'unsupported_version'],
    ['bad payload', JSON.stringify({ ...valid(), data: { ...requestCompleted(), status: 'weird' } }), 'invalid_payload'],
    ['tenant mismatch', JSON.stringify({ ...valid(), tenantId: 'tenant_b' }), 'tenant_mismatch'],
  ];
  for (const [name, raw, code] of cases) {
    it(`classifies ${name} as ${code}`, () => {
      const result = parseEvent(raw);
      assert.equal(result.ok, false);
      if (!result.ok) {
        assert.equal(result.code, code);
        assert.ok(!result.detail.includes('sk-live'), 'the detail never quotes the message');
      }
    });
  }

  it('strips an invalid traceparent on parse instead of rejecting the event', () => {
    const parsed = parseEvent(JSON.stringify({ ...valid(), traceparent: 'nonsense' }));
    assert.ok(parsed.ok);
    if (parsed.ok) assert.equal(parsed.event.traceparent, undefined);
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array().map((a) => Buffer.from(a)), fc.json()), (raw) => {
        const result = parseEvent(raw);
        assert.equal(typeof result.ok, 'boolean');
      }),
      { numRuns: 2_000 },
    );
    fc.assert(
      fc.property(fc.anything(), (data) => {
        const result = parseEvent(JSON.stringify({ ...valid(), data }) ?? '');
        assert.equal(typeof result.ok, 'boolean');
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('uuidv7', () => {
  it('is strictly increasing within one process, also within one millisecond', () => {
    const ids = Array.from({ length: 20_000 }, () => uuidv7());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1] < ids[i], `${ids[i - 1]} < ${ids[i]}`);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('carries its creation time and never goes backwards with the clock', () => {
    const t = Date.now() + 60_000;
    const a = uuidv7(t);
    const b = uuidv7(t - 5_000); // clock stepped back
    assert.equal(uuidv7Time(a), t);
    assert.ok(a < b);
    assert.ok((uuidv7Time(b) ?? 0) >= t);
  });
});
