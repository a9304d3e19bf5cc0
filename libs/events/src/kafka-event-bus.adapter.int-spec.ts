import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel, type Admin, type ISocketFactory } from 'kafkajs';
import { eventually, infra, missingInfra } from '@asc/testing';
import type { EventOnTopic } from './envelope';
import type { EventBusLogger, LogFields, Subscription } from './event-bus.port';
import { TOPIC_GATEWAY_REQUEST_V1 } from './event-map';
import { KafkaEventBus, type KafkaEventBusOptions } from './kafka-event-bus.adapter';
import { requestEvent, seqOf } from './request-completed.fixture';

type RequestEvent = EventOnTopic<typeof TOPIC_GATEWAY_REQUEST_V1>;
const TOPIC = TOPIC_GATEWAY_REQUEST_V1;
const RUN = `it-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const TEST_TIMEOUT = 120_000;

function recordingLogger(): EventBusLogger & { lines: Array<{ level: string; message: string; fields?: LogFields }> } {
  const lines: Array<{ level: string; message: string; fields?: LogFields }> = [];
  const at = (level: string) => (message: string, fields?: LogFields) => lines.push({ level, message, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A port nobody listens on: "the broker is unreachable". */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** A server that accepts connections and never answers: where a blackholed client ends up. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const held = new Set<Socket>();
  const server = createServer((s) => {
    held.add(s);
    s.on('error', () => undefined);
    s.on('close', () => held.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return {
    port: address.port,
    close: async () => {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

type NetworkState = 'up' | 'refused' | 'blackhole';

/**
 * kafkajs's sockets through a switch, to cut this client off the real broker mid-stream:
 * 'refused' resets every open connection (as when the broker dies) and refuses new ones;
 * 'blackhole' lets open connections go silent without any signal (a network partition)
 * and sends new ones to a server that accepts and never answers.
 */
async function switchableNetwork() {
  const deadPort = await closedPort();
  const silent = await silentServer();
  const sockets = new Set<Socket>();
  let state: NetworkState = 'up';
  const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const target = state === 'up' ? { host, port } : { host: '127.0.0.1', port: state === 'refused' ? deadPort : silent.port };
    const socket = connect(target, onConnect);
    socket.setKeepAlive(true, 60_000);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    return socket;
  };
  return {
    socketFactory,
    set(next: NetworkState) {
      state = next;
      if (next === 'refused') {
        for (const s of sockets) s.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      } else if (next === 'blackhole') {
        for (const s of sockets) s.destroy(); // 'close' only: kafkajs hears nothing
      }
    },
    close: silent.close,
  };
}

describe('KafkaEventBus against a real broker', async () => {
  const skip = await missingInfra('kafka');
  const opts = { skip, timeout: TEST_TIMEOUT };
  const buses: KafkaEventBus[] = [];
  let admin: Admin | undefined;
  const prefixes: string[] = [];
  let testNo = 0;

  /** A bus on its own topics (a fresh prefix per test) so offsets and counts are the test's own. */
  async function busesFor(extra: Partial<KafkaEventBusOptions> = {}) {
    const topicPrefix = `${RUN}-${++testNo}.`;
    prefixes.push(topicPrefix);
    const make = (more: Partial<KafkaEventBusOptions> = {}) => {
      const bus = new KafkaEventBus({
        brokers: infra.kafkaBrokers,
        clientId: 'asc-events-int',
        topicPrefix,
        logger: recordingLogger(),
        topics: { partitions: 3 },
        publisher: { retry: { initialMs: 50, maxMs: 500 } },
        consumer: { retry: { initialMs: 100, maxMs: 500 }, maxWaitTimeMs: 200 },
        ...extra,
        ...more,
      });
      buses.push(bus);
      return bus;
    };
    const first = make();
    await first.ensureTopics();
    return { make, first, topicName: first.topicName(TOPIC), group: `${topicPrefix}group` };
  }

  async function kafkaAdmin(): Promise<Admin> {
    if (!admin) {
      admin = new Kafka({ brokers: infra.kafkaBrokers, clientId: 'asc-events-int-admin', logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
    }
    return admin;
  }

  /** Sum over partitions of the group's committed offsets (an uncommitted partition counts 0). */
  async function committed(groupId: string, topic: string): Promise<number> {
    const [offsets] = await (await kafkaAdmin()).fetchOffsets({ groupId, topics: [topic] });
    return offsets.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  }

  async function highWatermark(topic: string): Promise<number> {
    const offsets = await (await kafkaAdmin()).fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high), 0);
  }

  function collect(events: RequestEvent[]) {
    return async (batch: RequestEvent[]) => {
      events.push(...batch);
    };
  }

  function assertPerTenantOrder(received: RequestEvent[], expectedPerTenant: Map<string, number[]>) {
    const got = new Map<string, number[]>();
    for (const e of received) got.set(e.tenantId, [...(got.get(e.tenantId) ?? []), seqOf(e)]);
    assert.deepEqual(new Set(got.keys()), new Set(expectedPerTenant.keys()));
    for (const [tenant, seqs] of expectedPerTenant) assert.deepEqual(got.get(tenant), seqs, `order of ${tenant}`);
  }

  after(async () => {
    await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
    if (admin) {
      const existing = await admin.listTopics();
      const mine = existing.filter((t) => prefixes.some((p) => t.startsWith(p)));
      if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('ensureTopics creates the topics once and is idempotent', opts, async () => {
    const { first, topicName } = await busesFor();
    assert.deepEqual(await first.ensureTopics(), { created: [] });
    const metadata = await (await kafkaAdmin()).fetchTopicMetadata({ topics: [topicName] });
    assert.equal(metadata.topics[0].partitions.length, 3);
  });

  it('delivers every published event to a group, each tenant in order, then commits to the end', opts, async () => {
    const { first: producer, make, topicName, group } = await busesFor({ publisher: { lingerMs: 5, maxBatchSize: 500 } });
    const received: RequestEvent[] = [];
    const consumerBus = make();
    const sub = await consumerBus.subscribe({ groupId: group, topics: [TOPIC], handleBatch: collect(received) });

    const N = 20_000;
    const tenants = Array.from({ length: 50 }, (_, i) => `tenant_${i}`);
    const expected = new Map(tenants.map((t) => [t, [] as number[]]));
    const events = Array.from({ length: N }, (_, i) => requestEvent(tenants[i % tenants.length], i));
    for (const e of events) expected.get(e.tenantId)?.push(seqOf(e));

    const t0 = process.hrtime.bigint();
    for (const e of events) producer.publish(e);
    const publishCallNs = Number(process.hrtime.bigint() - t0);
    await producer.flush({ timeoutMs: 60_000 });
    const producedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    await eventually(() => assert.equal(received.length >= N, true, `${received.length}/${N}`), 60_000, 20);
    const consumedMs = Number(process.hrtime.bigint() - t0) / 1e6;

    assert.equal(new Set(received.map((e) => e.id)).size, N, 'every event arrived');
    assert.equal(received.length, N, 'and none twice (no failures in this run)');
    assertPerTenantOrder(received, expected);
    assert.deepEqual(producer.stats(), { buffered: 0, sent: N, failed: 0, retries: 0, spooledBytes: 0, lostByTenant: {} });
    await eventually(async () => assert.equal(await committed(group, topicName), await highWatermark(topicName)));
    assert.equal(await highWatermark(topicName), N);
    assert.equal(sub.stats().delivered, N);
    console.log(
      `# throughput: ${N} events; publish() ${(publishCallNs / N / 1000).toFixed(2)} µs/call; ` +
        `produced in ${producedMs.toFixed(0)} ms (${Math.round(N / (producedMs / 1000))} ev/s); ` +
        `produced+consumed in ${consumedMs.toFixed(0)} ms (${Math.round(N / (consumedMs / 1000))} ev/s)`,
    );
  });

  it('with a spool, what a process could not send while the broker was unreachable goes out at the next start, in order', opts, async () => {
    const { make, topicName, group } = await busesFor();
    const spoolDir = mkdtempSync(join(tmpdir(), 'asc-spool-int-'));
    try {
      // Broker unreachable: the events stay on disk; close() gives up quickly and keeps them.
      const down = make({ brokers: [`127.0.0.1:${await closedPort()}`], spool: { dir: spoolDir }, publisher: { closeTimeoutMs: 500, retry: { initialMs: 50, maxMs: 200 } } });
      const expected = new Map<string, number[]>();
      for (let i = 0; i < 500; i++) {
        const tenant = `tenant_${i % 5}`;
        down.publish(requestEvent(tenant, i));
        expected.set(tenant, [...(expected.get(tenant) ?? []), i]);
      }
      await down.close();
      assert.equal(down.stats().failed, 0, 'nothing counted lost: it is in the spool');
      // Next start, broker reachable: the spool is sent before anything new.
      const up = make({ spool: { dir: spoolDir } });
      await up.flush({ timeoutMs: 60_000 });
      const received: RequestEvent[] = [];
      await make().subscribe({ groupId: group, topics: [TOPIC], handleBatch: async (events) => void received.push(...events) });
      await eventually(() => assert.equal(received.length, 500), 60_000);
      assertPerTenantOrder(received, expected);
      assert.equal(await highWatermark(topicName), 500, 'each event on the log once');
    } finally {
      rmSync(spoolDir, { recursive: true, force: true });
    }
  });

  it('commits nothing while handleBatch fails and redelivers the same events until it succeeds', opts, async () => {
    const { first: producer, make, topicName, group } = await busesFor();
    for (let i = 0; i < 100; i++) producer.publish(requestEvent('tenant_a', i));
    await producer.flush();

    const calls: number[][] = [];
    const handled: number[] = [];
    let healthy = false;
    const sub = await make().subscribe({
      groupId: group,
      topics: [TOPIC],
      handleBatch: async (events) => {
        calls.push(events.map(seqOf));
        if (!healthy) throw new Error('downstream store unavailable');
        handled.push(...events.map(seqOf));
      },
    });
    await eventually(() => assert.ok(sub.stats().failedAttempts >= 3), 30_000);
    assert.equal(await committed(group, topicName), 0, 'no offset committed while the handler fails');
    assert.ok(calls.length >= 3);
    assert.deepEqual(calls[1], calls[0], 'the same events come again');
    assert.deepEqual(calls[2], calls[0]);
    assert.equal(calls[0][0], 0, 'starting from the first uncommitted event');

    healthy = true;
    await eventually(() => assert.equal(sub.stats().delivered, 100), 30_000);
    await eventually(async () => assert.equal(await committed(group, topicName), 100));
    assert.deepEqual(handled, Array.from({ length: 100 }, (_, i) => i), 'nothing skipped, in order, once');
  });

  it('a new consumer of the group gets again what a stopped consumer failed to handle', opts, async () => {
    const { first: producer, make, topicName, group } = await busesFor();
    const firstSeen: number[] = [];
    const firstBus = make();
    const first: Subscription = await firstBus.subscribe({
      groupId: group,
      topics: [TOPIC],
      handleBatch: async (events) => {
        firstSeen.push(...events.map(seqOf));
        if (events.some((e) => seqOf(e) >= 50)) throw new Error('poisoned downstream');
      },
    });
    for (let i = 0; i < 50; i++) producer.publish(requestEvent('tenant_a', i));
    await producer.flush();
    await eventually(async () => assert.equal(await committed(group, topicName), 50), 30_000);

    for (let i = 50; i < 100; i++) producer.publish(requestEvent('tenant_a', i));
    await producer.flush();
    await eventually(() => assert.ok(first.stats().failedAttempts >= 2), 30_000);
    await first.stop();
    assert.equal(await committed(group, topicName), 50, 'the failed events were not committed');
    assert.ok(firstSeen.includes(50));

    const second: RequestEvent[] = [];
    const sub = await make().subscribe({ groupId: group, topics: [TOPIC], handleBatch: collect(second) });
    await eventually(() => assert.equal(sub.stats().delivered, 50), 30_000);
    assert.deepEqual(second.map(seqOf), Array.from({ length: 50 }, (_, i) => 50 + i), 'exactly the uncommitted ones, in order');
    await eventually(async () => assert.equal(await committed(group, topicName), 100));
  });

  it('events published while no consumer runs are delivered when one starts, and handled ones are not repeated', opts, async () => {
    const { first: producer, make, group } = await busesFor();
    const tenants = ['tenant_a', 'tenant_b', 'tenant_c'];
    const before: RequestEvent[] = [];
    const sub1 = await make().subscribe({ groupId: group, topics: [TOPIC], handleBatch: collect(before) });
    for (let i = 0; i < 30; i++) producer.publish(requestEvent(tenants[i % 3], i));
    await producer.flush();
    await eventually(() => assert.equal(sub1.stats().delivered, 30), 30_000);
    await sub1.stop();

    for (let i = 30; i < 60; i++) producer.publish(requestEvent(tenants[i % 3], i));
    await producer.flush();

    const afterRestart: RequestEvent[] = [];
    const sub2 = await make().subscribe({ groupId: group, topics: [TOPIC], handleBatch: collect(afterRestart) });
    await eventually(() => assert.equal(sub2.stats().delivered, 30), 30_000);
    assert.deepEqual(afterRestart.map(seqOf).sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => 30 + i));
    assertPerTenantOrder(afterRestart, new Map(tenants.map((t, k) => [t, Array.from({ length: 10 }, (_, j) => 30 + k + 3 * j)])));
  });

  it('a group with fromBeginning: false gets everything published after subscribe(), even when its join completes seconds later', opts, async () => {
    const { first: producer, make, topicName, group } = await busesFor();
    for (let i = 0; i < 6; i++) producer.publish(requestEvent(`tenant_${i % 3}`, i));
    await producer.flush();
    // A member whose process froze inside a batch: it stops heartbeating but holds the group
    // until its 6 s session expires, so the next member's join waits that long.
    const zombie = new Kafka({ brokers: infra.kafkaBrokers, clientId: 'asc-events-int-zombie', logLevel: logLevel.NOTHING }).consumer({
      groupId: group,
      sessionTimeout: 6_000,
      allowAutoTopicCreation: false,
    });
    let thaw = () => undefined as void;
    const frozen = new Promise<void>((resolve) => (thaw = resolve));
    let zombieBatches = 0;
    await zombie.connect();
    await zombie.subscribe({ topics: [topicName], fromBeginning: true });
    await zombie.run({ autoCommit: false, eachBatch: async () => void (zombieBatches++, await frozen) });
    await eventually(() => assert.ok(zombieBatches > 0), 30_000);

    const received: RequestEvent[] = [];
    const subscribing = make().subscribe({ groupId: group, topics: [TOPIC], fromBeginning: false, handleBatch: collect(received) });
    // The new member has asked to join and is waiting for the frozen one.
    await eventually(async () => assert.equal((await (await kafkaAdmin()).describeGroups([group])).groups[0].state, 'PreparingRebalance'), 10_000, 50);
    for (let i = 6; i < 12; i++) producer.publish(requestEvent(`tenant_${i % 3}`, i));
    await producer.flush();
    const sub = await subscribing;
    try {
      await eventually(() => assert.equal(received.length, 6), 30_000);
      assert.deepEqual(received.map(seqOf).sort((a, b) => a - b), [6, 7, 8, 9, 10, 11], 'what was published during the join, not what came before');
    } finally {
      await sub.stop();
      thaw();
      await zombie.disconnect();
    }
  });

  it('buffers while the broker is unreachable (from the start, reset mid-stream, silent partition) and loses nothing', opts, async () => {
    const net = await switchableNetwork();
    const logger = recordingLogger();
    const { make, group } = await busesFor();
    // A short request timeout so that the silent partition is detected in seconds, not in 10.
    const producer = make({ socketFactory: net.socketFactory, logger, requestTimeoutMs: 2_000 });
    const tenants = ['tenant_a', 'tenant_b', 'tenant_c', 'tenant_d'];
    const expected = new Map(tenants.map((t) => [t, [] as number[]]));
    let seq = 0;
    const publish = (n: number) => {
      for (let i = 0; i < n; i++, seq++) {
        producer.publish(requestEvent(tenants[seq % tenants.length], seq));
        expected.get(tenants[seq % tenants.length])?.push(seq);
      }
    };
    const outage = async (state: 'refused' | 'blackhole', n: number) => {
      const before = producer.stats();
      net.set(state);
      publish(n);
      await eventually(() => assert.ok(producer.stats().retries >= before.retries + 2), 60_000);
      assert.equal(producer.stats().sent, before.sent, `${state}: nothing gets through`);
      assert.equal(producer.stats().buffered, n, `${state}: everything is kept`);
      const t0 = Date.now();
      net.set('up');
      await producer.flush({ timeoutMs: 60_000 });
      console.log(`# ${state}: ${n} buffered events delivered ${Date.now() - t0} ms after the network came back`);
    };
    try {
      // 1. Unreachable from the start: the producer cannot even bootstrap.
      await outage('refused', 1_000);
      assert.ok(logger.lines.some((l) => l.message === 'event log unreachable: buffering events and retrying'));
      assert.ok(logger.lines.some((l) => l.message === 'event log reachable again: delivering the buffered events'));
      // 2. Connected, then every connection is reset (the broker died) while traffic goes on.
      publish(500);
      await producer.flush();
      await outage('refused', 1_000);
      // 3. Connected, then the connections go silent without a signal (a network partition).
      publish(500);
      await producer.flush();
      await outage('blackhole', 1_000);
    } finally {
      await net.close();
    }
    const total = seq;
    assert.deepEqual({ ...producer.stats(), retries: 0 }, { buffered: 0, sent: total, failed: 0, retries: 0, spooledBytes: 0, lostByTenant: {} });

    const received: RequestEvent[] = [];
    const sub = await make().subscribe({ groupId: group, topics: [TOPIC], handleBatch: collect(received) });
    await eventually(() => assert.ok(new Set(received.map((e) => e.id)).size >= total), 60_000);
    const unique = [...new Map(received.map((e) => [e.id, e])).values()];
    assert.equal(unique.length, total, 'no event lost');
    console.log(`# outage test: ${total} events, ${received.length - total} duplicates after ${producer.stats().retries} failed sends`);
    assertPerTenantOrder(unique, expected);
    assert.ok(sub.stats().delivered >= total);
    assert.ok(!JSON.stringify(logger.lines).includes('requestId'), 'no payload in the logs');
  });

  it('a consumer cut off from the broker resumes where it committed once the network is back', opts, async () => {
    const net = await switchableNetwork();
    const logger = recordingLogger();
    const { first: producer, make, topicName, group } = await busesFor();
    // A stale member holds the group until its session expires: a short session keeps the test short.
    const consumerBus = make({
      socketFactory: net.socketFactory,
      logger,
      requestTimeoutMs: 2_000,
      consumer: { retry: { initialMs: 100, maxMs: 500 }, maxWaitTimeMs: 200, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 },
    });
    const received: RequestEvent[] = [];
    const sub = await consumerBus.subscribe({ groupId: group, topics: [TOPIC], handleBatch: collect(received) });
    const tenants = ['tenant_a', 'tenant_b', 'tenant_c'];
    for (let i = 0; i < 300; i++) producer.publish(requestEvent(tenants[i % 3], i));
    await producer.flush();
    await eventually(() => assert.equal(sub.stats().delivered, 300), 30_000);
    try {
      for (const state of ['refused', 'blackhole'] as const) {
        const before = received.length;
        net.set(state);
        const from = state === 'refused' ? 300 : 600;
        for (let i = from; i < from + 300; i++) producer.publish(requestEvent(tenants[i % 3], i));
        await producer.flush();
        await new Promise((r) => setTimeout(r, 3_000)); // the outage lasts 3 s (a duration, not a wait for an effect)
        assert.equal(received.length, before, `${state}: nothing arrives while cut off`);
        const t0 = Date.now();
        net.set('up');
        await eventually(() => assert.ok(new Set(received.map((e) => e.id)).size >= from + 300), 90_000);
        console.log(`# consumer ${state}: caught up ${Date.now() - t0} ms after the network came back`);
      }
    } finally {
      await net.close();
    }
    const unique = [...new Map(received.map((e) => [e.id, e])).values()];
    assert.equal(unique.length, 900, 'nothing lost');
    assertPerTenantOrder(unique, new Map(tenants.map((t, k) => [t, Array.from({ length: 300 }, (_, j) => k + 3 * j)])));
    await eventually(async () => assert.equal(await committed(group, topicName), 900), 30_000);
    console.log(`# consumer outage: ${received.length - 900} redelivered duplicates`);
  });

  it('drops beyond its bound while unreachable, counts it, and delivers what it kept', opts, async () => {
    const net = await switchableNetwork();
    const logger = recordingLogger();
    const { make, group } = await busesFor();
    const producer = make({ socketFactory: net.socketFactory, logger, publisher: { maxBufferedEvents: 100, retry: { initialMs: 50, maxMs: 500 } } });
    net.set('refused');
    for (let i = 0; i < 150; i++) producer.publish(requestEvent('tenant_a', i));
    assert.equal(producer.stats().buffered, 100);
    assert.equal(producer.stats().failed, 50);
    assert.ok(logger.lines.some((l) => l.level === 'error' && l.message.startsWith('event buffer full') && l.fields?.maxBufferedEvents === 100));
    net.set('up');
    await producer.flush({ timeoutMs: 60_000 });
    await net.close();
    const received: RequestEvent[] = [];
    const sub = await make().subscribe({ groupId: group, topics: [TOPIC], handleBatch: collect(received) });
    await eventually(() => assert.equal(sub.stats().delivered, 100), 30_000);
    assert.deepEqual(received.map(seqOf), Array.from({ length: 100 }, (_, i) => i));
  });

  it('sends malformed messages to the dead-letter handler with their position, and delivers the rest', opts, async () => {
    const { first: bus, make, topicName, group } = await busesFor();
    const raw = new Kafka({ brokers: infra.kafkaBrokers, clientId: 'asc-events-int-raw', logLevel: logLevel.NOTHING }).producer();
    await raw.connect();
    bus.publish(requestEvent('tenant_a', 0));
    await bus.flush();
    await raw.send({ topic: topicName, messages: [{ key: 'tenant_a', value: '{"broken": ' }, { key: 'tenant_a', value: null }] });
    await raw.disconnect();
    bus.publish(requestEvent('tenant_a', 1));
    await bus.flush();

    const received: RequestEvent[] = [];
    const dead: Array<{ raw: string; code: string; offset: string; partition: number }> = [];
    const sub = await make().subscribe({
      groupId: group,
      topics: [TOPIC],
      handleBatch: collect(received),
      onDeadLetter: async (value, reason) => {
        dead.push({ raw: value.toString('utf8'), code: reason.code, offset: reason.offset, partition: reason.partition });
      },
    });
    await eventually(() => assert.equal(sub.stats().delivered + sub.stats().deadLettered, 4), 30_000);
    assert.deepEqual(received.map(seqOf), [0, 1]);
    assert.deepEqual(dead.map((d) => [d.raw, d.code, d.offset]), [
      ['{"broken": ', 'malformed_json', '1'],
      ['', 'empty_message', '2'],
    ]);
    await eventually(async () => assert.equal(await committed(group, topicName), 4));
  });
});
