import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { SseParser } from './sse';

describe('SseParser', () => {
  it('frames events split across arbitrary chunk boundaries', () => {
    const wire = 'event: message_start\ndata: {"a":1}\n\n: keep-alive\n\ndata: line1\ndata: line2\r\n\r\ndata: [DONE]\n\n';
    for (let cut = 1; cut < wire.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(wire.slice(0, cut)), ...parser.push(wire.slice(cut)), ...parser.end()];
      assert.deepEqual(events, [
        { event: 'message_start', data: '{"a":1}' },
        { event: undefined, data: 'line1\nline2' },
        { event: undefined, data: '[DONE]' },
      ]);
    }
  });

  it('returns a trailing event without a blank line at the end', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: x'), []);
    assert.deepEqual(parser.end(), [{ event: undefined, data: 'x' }]);
  });

  it('refuses an event that never ends instead of buffering without bound', () => {
    const parser = new SseParser(1024);
    parser.push('data: ' + 'x'.repeat(500));
    assert.throws(() => parser.push('x'.repeat(600)), /exceeded 1024 characters/);
    assert.deepEqual(parser.push('data: ok\n\n'), [{ event: undefined, data: 'ok' }], 'the parser is usable again');
  });
});
