import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { deliverBatch } from './batch-delivery';
import { serializeEvent } from './envelope';
import { silentEventBusLogger } from './event-bus.logger';
import { TOPIC_GATEWAY_REQUEST_V1 } from './event-map';
import { requestEvent, seqOf } from './request-completed.fixture';

describe('deliverBatch', () => {
  it('parses a large batch in slices, letting other work run in between, and delivers it whole and in order', async () => {
    const n = 3_000; // more than one slice's worth of parsing on any machine (SLICE_MS)
    const messages = Array.from({ length: n }, (_, i) => ({ value: serializeEvent(requestEvent('tenant_a', i)), offset: String(i) }));
    const order: string[] = [];
    const delivered: number[] = [];
    setImmediate(() => order.push('other work'));
    const done = await deliverBatch({
      groupId: 'g',
      topic: TOPIC_GATEWAY_REQUEST_V1,
      partition: 0,
      messages,
      subscription: {
        groupId: 'g',
        topics: [TOPIC_GATEWAY_REQUEST_V1],
        handleBatch: async (events) => {
          order.push('handleBatch');
          delivered.push(...events.map(seqOf));
        },
      },
      retry: { initialMs: 1, maxMs: 1 },
      logger: silentEventBusLogger,
      stats: { delivered: 0, deadLettered: 0, failedAttempts: 0 },
      isActive: () => true,
      signal: new AbortController().signal,
    });
    assert.equal(done, true);
    assert.deepEqual(order, ['other work', 'handleBatch'], 'the event loop got a turn while the batch was parsed');
    assert.deepEqual(delivered, Array.from({ length: n }, (_, i) => i));
  });
});
