import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { INVALID_SPAN_CONTEXT, trace } from '@opentelemetry/api';
import { traceparentOf } from './telemetry';

const W3C = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

describe('traceparentOf without a recording tracer', () => {
  const notRecording = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

  it('keeps a valid incoming traceparent', () => {
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    assert.equal(traceparentOf(notRecording, incoming), incoming);
  });

  it('starts a fresh trace (not sampled) when none came in or the incoming one is invalid: every request has a trace id', () => {
    const a = traceparentOf(notRecording);
    const b = traceparentOf(notRecording, '00-00000000000000000000000000000000-00f067aa0ba902b7-01');
    for (const t of [a, b]) {
      assert.match(t, W3C);
      assert.ok(t.endsWith('-00'));
    }
    assert.notEqual(a.slice(3, 35), b.slice(3, 35));
  });
});
