import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { fixKafkaJsIdleLoop } from './kafkajs-idle-loop.fix';

// kafkajs's own request queue (the one each broker connection has), with the fix applied the
// way the Kafka adapter applies it when it loads.
interface Queue {
  pending: unknown[];
  inflight: Map<number, unknown>;
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  push(request: { entry: Entry; expectResponse: boolean; sendRequest: () => void }): void;
  fulfillRequest(response: { correlationId: number; payload: Buffer; size: number }): void;
  checkPendingRequests(): void;
  destroy(): void;
}
interface Entry {
  correlationId: number;
  apiName: string;
  resolve: () => void;
  reject: () => void;
}
const entry = (correlationId: number): Entry => ({ correlationId, apiName: 'Test', resolve: () => undefined, reject: () => undefined });
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: Record<string, unknown>) => Queue;
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const queues: Queue[] = [];
const queue = (maxInFlightRequests: number) => {
  const q = new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'asc-test', broker: 'localhost:9092', logger: silent });
  queues.push(q);
  return q;
};
after(() => queues.forEach((q) => q.destroy()));

describe('kafkajs idle loop fix', () => {
  assert.equal(fixKafkaJsIdleLoop(), true, 'the pinned kafkajs release is the one the fix was written for');

  it('leaves no timer armed on a connection with nothing pending (kafkajs re-armed a 1 ms one forever)', () => {
    const q = queue(1);
    let sent = 0;
    q.push({ entry: entry(1), expectResponse: true, sendRequest: () => sent++ });
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    assert.equal(sent, 1);
    assert.equal(q.pending.length, 0);
    assert.equal(q.throttleCheckTimeoutId, null);
  });

  it('still sends a request queued behind the in-flight limit once a slot frees', async () => {
    const q = queue(1);
    const sent: number[] = [];
    for (const id of [1, 2]) q.push({ entry: entry(id), expectResponse: true, sendRequest: () => sent.push(id) });
    assert.deepEqual(sent, [1]);
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    assert.deepEqual(sent, [1, 2]);
    q.fulfillRequest({ correlationId: 2, payload: Buffer.alloc(0), size: 0 });
    // The check armed while request 2 waited runs once more, finds nothing, and does not re-arm.
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(q.throttleCheckTimeoutId, null);
  });

  it('sends what waits for a broker throttle when the throttle ends', async () => {
    const q = queue(10);
    q.throttledUntil = Date.now() + 30;
    const sent: number[] = [];
    q.push({ entry: entry(7), expectResponse: true, sendRequest: () => sent.push(7) });
    assert.deepEqual(sent, []);
    assert.ok(q.throttleCheckTimeoutId, 'a check is armed for the end of the throttle');
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(sent, [7]);
  });
});
