import { strict as assert } from 'node:assert';
import { afterEach, describe, it } from 'node:test';
import { eventually } from '@asc/testing';
import type { EventOnTopic } from './envelope';
import { originalValue } from './dead-letter';
import { EventBusError } from './event-bus.error';
import type { DeadLetterReason, EventBusLogger, LogFields, SubscribeOptions } from './event-bus.port';
import { TOPIC_GATEWAY_REQUEST_V1, type EventTopic } from './event-map';
import { MemoryEventBus, type MemoryEventBusOptions } from './memory-event-bus.adapter';
import { requestEvent, seqOf } from './request-completed.fixture';

type RequestEvent = EventOnTopic<typeof TOPIC_GATEWAY_REQUEST_V1>;
const TOPIC = TOPIC_GATEWAY_REQUEST_V1;

function recordingLogger(): EventBusLogger & { lines: Array<{ level: string; message: string; fields?: LogFields }> } {
  const lines: Array<{ level: string; message: string; fields?: LogFields }> = [];
  const at = (level: string) => (message: string, fields?: LogFields) => lines.push({ level, message, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const buses: MemoryEventBus[] = [];
function newBus(options: MemoryEventBusOptions = {}): MemoryEventBus {
  const bus = new MemoryEventBus({
    logger: recordingLogger(),
    consumer: { retry: { initialMs: 5, maxMs: 20 }, ...options.consumer },
    closeTimeoutMs: 200,
    ...options,
  });
  buses.push(bus);
  return bus;
}
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close()));
});

/** Publishes `perTenant` events for each tenant, interleaved; returns them in publish order. */
function publishInterleaved(bus: MemoryEventBus, tenants: string[], perTenant: number, from = 0) {
  const events = [];
  for (let i = from; i < from + perTenant; i++) {
    for (const t of tenants) {
      const e = requestEvent(t, i);
      bus.publish(e);
      events.push(e);
    }
  }
  return events;
}

/** Per tenant, the sequence numbers in the order they were received. */
function byTenant(events: RequestEvent[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const e of events) out.set(e.tenantId, [...(out.get(e.tenantId) ?? []), seqOf(e)]);
  return out;
}

const tenants = Array.from({ length: 10 }, (_, i) => `tenant_${i}`);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('MemoryEventBus', () => {
  it('delivers every event to a group, each tenant in publish order, in bounded batches', async () => {
    const bus = newBus({ partitions: 4, consumer: { maxBatchSize: 50 } });
    const received: RequestEvent[] = [];
    const sizes: number[] = [];
    await bus.subscribe({
      groupId: 'metering',
      topics: [TOPIC],
      handleBatch: async (events) => {
        sizes.push(events.length);
        received.push(...events);
      },
    });
    const published = publishInterleaved(bus, tenants, 100);
    await eventually(() => assert.equal(received.length, published.length));
    assert.deepEqual(new Set(received.map((e) => e.id)), new Set(published.map((e) => e.id)));
    for (const [tenant, seqs] of byTenant(received)) assert.deepEqual(seqs, range(0, 100), tenant);
    assert.ok(Math.max(...sizes) <= 50);
    assert.deepEqual(bus.stats(), { buffered: 0, sent: 1_000, failed: 0, retries: 0, spooledBytes: 0, lostByTenant: {} });
  });

  it('redelivers the same events after handleBatch throws, and never moves past them', async () => {
    const bus = newBus({ partitions: 1 });
    const calls: number[][] = [];
    let failuresLeft = 2;
    const sub = await bus.subscribe({
      groupId: 'metering',
      topics: [TOPIC],
      handleBatch: async (events) => {
        calls.push(events.map(seqOf));
        events[0].data.outputTokens = -1; // a handler that mutates before failing must not taint the redelivery
        if (failuresLeft-- > 0) throw new Error('clickhouse is down');
      },
    });
    publishInterleaved(bus, ['tenant_a'], 5);
    await bus.flush();
    await eventually(() => assert.equal(sub.stats().delivered, 5));
    assert.deepEqual(calls.slice(0, 3), [range(0, 5), range(0, 5), range(0, 5)], 'same events, same order, three times');
    publishInterleaved(bus, ['tenant_a'], 3, 5);
    await eventually(() => assert.equal(sub.stats().delivered, 8));
    assert.deepEqual(calls.slice(3), [range(5, 8)], 'after success the position moved on: no duplicates');
    assert.equal(sub.stats().failedAttempts, 2);
  });

  it('hands each delivery fresh objects', async () => {
    const bus = newBus({ partitions: 1 });
    const tokens: number[] = [];
    let fail = true;
    await bus.subscribe({
      groupId: 'g',
      topics: [TOPIC],
      handleBatch: async (events) => {
        tokens.push(events[0].data.outputTokens);
        events[0].data.outputTokens = -1;
        if (fail) {
          fail = false;
          throw new Error('once');
        }
      },
    });
    bus.publish(requestEvent('tenant_a', 0));
    await eventually(() => assert.equal(tokens.length, 2));
    assert.deepEqual(tokens, [48, 48]);
  });

  it('gives every group every event, each at its own pace', async () => {
    const bus = newBus({ partitions: 3 });
    const metering: RequestEvent[] = [];
    const audit: RequestEvent[] = [];
    let auditFails = 3;
    await bus.subscribe({ groupId: 'metering', topics: [TOPIC], handleBatch: async (e) => void metering.push(...e) });
    await bus.subscribe({
      groupId: 'audit',
      topics: [TOPIC],
      handleBatch: async (e) => {
        if (auditFails-- > 0) throw new Error('audit store slow');
        audit.push(...e);
      },
    });
    const published = publishInterleaved(bus, tenants, 20);
    await eventually(() => {
      assert.equal(metering.length, published.length);
      assert.equal(audit.length, published.length);
    });
    for (const got of [metering, audit]) {
      assert.deepEqual(new Set(got.map((e) => e.id)), new Set(published.map((e) => e.id)));
      for (const [tenant, seqs] of byTenant(got)) assert.deepEqual(seqs, range(0, 20), tenant);
    }
  });

  it('splits partitions between the members of one group, each event to one member', async () => {
    const bus = newBus({ partitions: 4 });
    const a: RequestEvent[] = [];
    const b: RequestEvent[] = [];
    await bus.subscribe({ groupId: 'g', topics: [TOPIC], handleBatch: async (e) => void a.push(...e) });
    await bus.subscribe({ groupId: 'g', topics: [TOPIC], handleBatch: async (e) => void b.push(...e) });
    const published = publishInterleaved(bus, tenants, 10);
    await eventually(() => assert.equal(a.length + b.length, published.length));
    assert.ok(a.length > 0 && b.length > 0, `both members work (${a.length}/${b.length})`);
    const aTenants = new Set(a.map((e) => e.tenantId));
    assert.ok(b.every((e) => !aTenants.has(e.tenantId)), 'a tenant (partition) belongs to one member');
    assert.deepEqual(new Set([...a, ...b].map((e) => e.id)), new Set(published.map((e) => e.id)));
  });

  it('after a member stops mid-failure, the next member of the group gets the uncommitted events again', async () => {
    const bus = newBus({ partitions: 1, consumer: { retry: { initialMs: 10_000, maxMs: 10_000 } } });
    const firstSeen: number[] = [];
    const first = await bus.subscribe({
      groupId: 'g',
      topics: [TOPIC],
      handleBatch: async (events) => {
        firstSeen.push(...events.map(seqOf));
        if (events.some((e) => seqOf(e) >= 3)) throw new Error('fails from seq 3 on');
      },
    });
    publishInterleaved(bus, ['tenant_a'], 3);
    await eventually(() => assert.equal(first.stats().delivered, 3));
    publishInterleaved(bus, ['tenant_a'], 3, 3);
    await eventually(() => assert.equal(first.stats().failedAttempts, 1));
    await first.stop(); // abandons the 10 s backoff, commits nothing
    const second: number[] = [];
    await bus.subscribe({ groupId: 'g', topics: [TOPIC], handleBatch: async (e) => void second.push(...e.map(seqOf)) });
    await eventually(() => assert.deepEqual(second, [3, 4, 5]));
    assert.deepEqual(firstSeen, [0, 1, 2, 3, 4, 5]);
  });

  it('a group with fromBeginning: false sees only what is published after it joined', async () => {
    const bus = newBus();
    publishInterleaved(bus, ['tenant_a'], 3);
    await bus.flush();
    const seen: number[] = [];
    await bus.subscribe({ groupId: 'late', topics: [TOPIC], fromBeginning: false, handleBatch: async (e) => void seen.push(...e.map(seqOf)) });
    const all: number[] = [];
    await bus.subscribe({ groupId: 'replay', topics: [TOPIC], handleBatch: async (e) => void all.push(...e.map(seqOf)) });
    publishInterleaved(bus, ['tenant_a'], 2, 3);
    await eventually(() => {
      assert.deepEqual(seen, [3, 4]);
      assert.deepEqual(all, [0, 1, 2, 3, 4]);
    });
  });

  it('dead-letters malformed messages and still delivers the valid ones around them in order', async () => {
    const bus = newBus({ partitions: 1 });
    const delivered: number[] = [];
    const dead: Array<{ raw: string; reason: DeadLetterReason }> = [];
    let deadLetterFails = 1;
    const sub = await bus.subscribe({
      groupId: 'g',
      topics: [TOPIC],
      handleBatch: async (e) => void delivered.push(...e.map(seqOf)),
      onDeadLetter: async (raw, reason) => {
        if (deadLetterFails-- > 0) throw new Error('dlq topic unavailable');
        dead.push({ raw: raw.toString('utf8'), reason });
      },
    });
    bus.publish(requestEvent('tenant_a', 0));
    await bus.flush();
    bus.appendRaw(TOPIC, 'tenant_a', '{not json');
    bus.appendRaw(TOPIC, 'tenant_a', JSON.stringify({ ...requestEvent('tenant_a', 9), version: 99 }));
    bus.publish(requestEvent('tenant_a', 1));
    await eventually(() => assert.deepEqual(delivered, [0, 1]));
    assert.deepEqual(dead.map((d) => d.reason.code), ['malformed_json', 'unsupported_version']);
    assert.equal(dead[0].raw, '{not json');
    assert.equal(dead[0].reason.topic, TOPIC);
    assert.equal(dead[0].reason.groupId, 'g');
    assert.equal(sub.stats().deadLettered, 2);
    assert.ok(sub.stats().failedAttempts >= 1, 'a failing dead-letter handler makes the batch retry');
  });

  it('without a dead-letter handler, writes the message to the dead-letter topic with its bytes; the log line has position and reason, never the payload', async () => {
    const logger = recordingLogger();
    const bus = newBus({ partitions: 1, logger });
    const delivered: number[] = [];
    await bus.subscribe({ groupId: 'g', topics: [TOPIC], handleBatch: async (e) => void delivered.push(...e.map(seqOf)) });
    bus.appendRaw(TOPIC, 'tenant_a', '{"secret":"sk-live-abc"');
    bus.publish(requestEvent('tenant_a', 1));
    await eventually(() => assert.deepEqual(delivered, [1]));
    const [record] = bus.deadLetters();
    assert.equal(record.code, 'malformed_json');
    assert.equal(record.offset, '0');
    assert.equal(originalValue(record).toString('utf8'), '{"secret":"sk-live-abc"');
    const line = logger.lines.find((l) => l.message.startsWith('dead letter'));
    assert.equal(line?.fields?.code, 'malformed_json');
    assert.equal(line?.fields?.offset, '0');
    assert.ok(!JSON.stringify(logger.lines).includes('sk-live'));
  });

  it('an event the sink rejects as invalid is isolated and dead-lettered; the rest of its batch lands once, in order', async () => {
    const bus = newBus({ partitions: 1 });
    const stored: number[] = [];
    let calls = 0;
    const sub = await bus.subscribe({
      groupId: 'g',
      topics: [TOPIC],
      // A sink that refuses a whole batch when any event in it is out of range (like a ClickHouse insert).
      handleBatch: async (events) => {
        calls++;
        if (events.some((e) => e.data.inputTokens > 2 ** 32 - 1)) throw new RangeError('input_tokens out of UInt32');
        stored.push(...events.map(seqOf));
      },
      isRejection: (err) => err instanceof RangeError,
    });
    for (let i = 0; i < 8; i++) {
      const event = requestEvent('tenant_a', i);
      if (i === 5) event.data.inputTokens = 2 ** 33;
      bus.publish(event);
    }
    await eventually(() => assert.deepEqual(stored, [0, 1, 2, 3, 4, 6, 7]));
    const dead = bus.deadLetters();
    assert.equal(dead.length, 1);
    assert.equal(dead[0].code, 'sink_rejected');
    assert.match(dead[0].detail, /input_tokens out of UInt32/);
    assert.equal(seqOf(JSON.parse(originalValue(dead[0]).toString('utf8')) as { data: object }), 5);
    assert.equal(sub.stats().deadLettered, 1);
    assert.ok(calls < 16, `bisection, not one call per event forever (calls: ${calls})`);
  });

  it('a transient sink failure retries its partition with backoff while other partitions keep flowing', async () => {
    const bus = newBus({ partitions: 4, consumer: { retry: { initialMs: 20, maxMs: 50 } } });
    const stuckTenant = 'tenant_stuck';
    let healthy = false;
    const seen = new Map<string, number[]>();
    await bus.subscribe({
      groupId: 'g',
      topics: [TOPIC],
      handleBatch: async (events) => {
        if (!healthy && events.some((e) => e.tenantId === stuckTenant)) throw new Error('ECONNREFUSED');
        for (const e of events) seen.set(e.tenantId, [...(seen.get(e.tenantId) ?? []), seqOf(e)]);
      },
    });
    const tenants = ['tenant_a', 'tenant_b', 'tenant_c', 'tenant_d', 'tenant_e', stuckTenant];
    publishInterleaved(bus, tenants, 3);
    const others = tenants.filter((t) => t !== stuckTenant);
    await eventually(() => {
      // every tenant not sharing the stuck tenant's partition is delivered while it is failing
      const free = others.filter((t) => (seen.get(t) ?? []).length === 3);
      assert.ok(free.length >= 1, 'some partition flowed');
    });
    assert.equal(seen.get(stuckTenant), undefined);
    healthy = true;
    await eventually(() => assert.deepEqual(seen.get(stuckTenant), [0, 1, 2]));
    assert.equal(bus.deadLetters().length, 0, 'transient failures never dead-letter');
  });

  it('rejects a subscription without topics, with an unknown topic or without a group', async () => {
    const bus = newBus();
    const handleBatch = async () => undefined;
    const invalid: Array<SubscribeOptions<EventTopic>> = [
      { groupId: 'g', topics: [], handleBatch },
      { groupId: 'g', topics: ['asc.nope.v1' as EventTopic], handleBatch },
      { groupId: '', topics: [TOPIC], handleBatch },
    ];
    for (const options of invalid) {
      await assert.rejects(bus.subscribe(options), (err: unknown) => err instanceof EventBusError && err.code === 'invalid_subscription');
    }
  });

  it('close lets consumers catch up, then refuses new subscriptions', async () => {
    const bus = newBus();
    const seen: number[] = [];
    await bus.subscribe({ groupId: 'g', topics: [TOPIC], handleBatch: async (e) => void seen.push(...e.map(seqOf)) });
    publishInterleaved(bus, ['tenant_a'], 50);
    await bus.close();
    assert.equal(seen.length, 50);
    await assert.rejects(
      bus.subscribe({ groupId: 'g2', topics: [TOPIC], handleBatch: async () => undefined }),
      (err: unknown) => err instanceof EventBusError && err.code === 'bus_closed',
    );
  });
});
