import { strict as assert } from 'node:assert';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { eventually } from '@asc/testing';
import { BatchingPublisher, type OutboundMessage } from './batching-publisher';
import { parseEvent, serializeEvent } from './envelope';
import { silentEventBusLogger } from './event-bus.logger';
import { TOPIC_GATEWAY_REQUEST_V1 } from './event-map';
import { EventSpool } from './event-spool';
import { requestEvent, seqOf } from './request-completed.fixture';

const TOPIC = TOPIC_GATEWAY_REQUEST_V1;
const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'asc-spool-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A log (the transport port) that can be down, and records what it accepted. */
function fakeLog() {
  const accepted: OutboundMessage[] = [];
  const state = { up: true };
  return {
    accepted,
    state,
    send: async (batch: readonly OutboundMessage[]) => {
      if (!state.up) throw new Error('connect ECONNREFUSED');
      accepted.push(...batch);
    },
    seqs: (tenant?: string) =>
      accepted
        .filter((m) => tenant === undefined || m.key === tenant)
        .map((m) => {
          const parsed = parseEvent(m.value);
          return parsed.ok ? seqOf(parsed.event) : -1;
        }),
  };
}

const fast = { lingerMs: 1, retry: { initialMs: 5, maxMs: 20 } };

describe('EventSpool', () => {
  it('reads back in order across segments, survives a reopen, and frees acknowledged segments', async () => {
    const dir = freshDir();
    const spool = new EventSpool({ dir, segmentBytes: 4096, fsyncIntervalMs: 1 }, silentEventBusLogger);
    const values = Array.from({ length: 200 }, (_, i) => serializeEvent(requestEvent('tenant_a', i)));
    for (const v of values) assert.notEqual(spool.append(TOPIC, 'tenant_a', v), undefined);
    const segmentsBefore = readdirSync(dir).filter((f) => f.startsWith('seg-')).length;
    assert.ok(segmentsBefore > 3, 'several segments');
    const firstHalf = await spool.read(0, 100);
    assert.deepEqual(firstHalf.map((r) => r.value), values.slice(0, 100));
    spool.ack(100);
    await spool.close();

    const reopened = new EventSpool({ dir, segmentBytes: 4096 }, silentEventBusLogger);
    assert.equal(reopened.ackedSeq, 100);
    assert.equal(reopened.records, 100);
    assert.ok(readdirSync(dir).filter((f) => f.startsWith('seg-')).length < segmentsBefore, 'acknowledged segments deleted');
    const rest = await reopened.read(100, 1000);
    assert.deepEqual(rest.map((r) => r.value), values.slice(100));
    assert.deepEqual(rest.map((r) => r.seq), Array.from({ length: 100 }, (_, i) => 100 + i));
    await reopened.close();
  });

  it('deletes a spent segment off the request thread: ack returns before the unlink, close waits for it', async () => {
    const dir = freshDir();
    const spool = new EventSpool({ dir, segmentBytes: 4096, fsyncIntervalMs: 1 }, silentEventBusLogger);
    const segments = () => readdirSync(dir).filter((f) => f.startsWith('seg-')).length;
    for (let i = 0; i < 200; i++) spool.append(TOPIC, 'tenant_a', serializeEvent(requestEvent('tenant_a', i)));
    const before = segments();
    spool.ack(150);
    // Unlinking an 8 MiB segment takes 7–20 ms: done synchronously it stalled every request in flight.
    assert.equal(segments(), before, 'nothing deleted inside ack()');
    await spool.close();
    assert.ok(segments() < before, 'the spent segments are gone once close() resolved');
    const reopened = new EventSpool({ dir, segmentBytes: 4096 }, silentEventBusLogger);
    assert.equal(reopened.records, 50);
    assert.deepEqual((await reopened.read(150, 100)).map((r) => r.seq), Array.from({ length: 50 }, (_, i) => 150 + i));
    await reopened.close();
  });

  it('an appended record is in the file at once: a process killed right after appending loses nothing', async () => {
    const dir = freshDir();
    // A long fsync interval: nothing but the append itself may put the record on disk.
    const spool = new EventSpool({ dir, fsyncIntervalMs: 60_000 }, silentEventBusLogger);
    const value = serializeEvent(requestEvent('tenant_a', 7));
    assert.equal(spool.append(TOPIC, 'tenant_a', value), 0);
    // What a restarted process finds when this one was SIGKILLed now (no close, no sync).
    const reopened = new EventSpool({ dir }, silentEventBusLogger);
    assert.equal(reopened.records, 1);
    assert.deepEqual((await reopened.read(0, 10)).map((r) => r.value), [value]);
    await reopened.close();
    await spool.close();
  });

  it('cuts a torn last record left by a crash mid-write, keeping every whole one', async () => {
    const dir = freshDir();
    const spool = new EventSpool({ dir, fsyncIntervalMs: 1 }, silentEventBusLogger);
    for (let i = 0; i < 5; i++) spool.append(TOPIC, 'tenant_a', serializeEvent(requestEvent('tenant_a', i)));
    await spool.close();
    const [segment] = readdirSync(dir).filter((f) => f.startsWith('seg-'));
    appendFileSync(join(dir, segment), '["asc.gateway.request.v1","tenant_a","{\\"id');
    const reopened = new EventSpool({ dir }, silentEventBusLogger);
    assert.equal(reopened.records, 5);
    const records = await reopened.read(0, 10);
    assert.equal(records.length, 5);
    reopened.append(TOPIC, 'tenant_a', serializeEvent(requestEvent('tenant_a', 5)));
    assert.equal((await reopened.read(0, 10)).length, 6, 'appends continue after the cut');
    await reopened.close();
  });

  it('reads a spool left by an earlier version (JSON-array lines) together with new records, in order', async () => {
    const dir = freshDir();
    const values = Array.from({ length: 4 }, (_, i) => serializeEvent(requestEvent('tenant_a', i)));
    // What the previous line format wrote: ["topic","key","value"] per line.
    appendFileSync(join(dir, `seg-${'0'.repeat(16)}.log`), values.slice(0, 2).map((v) => `${JSON.stringify([TOPIC, 'tenant_a', v])}\n`).join(''));
    const spool = new EventSpool({ dir, fsyncIntervalMs: 1 }, silentEventBusLogger);
    assert.equal(spool.records, 2);
    for (const v of values.slice(2)) spool.append(TOPIC, 'tenant_a', v);
    const records = await spool.read(0, 10);
    assert.deepEqual(records.map((r) => [r.seq, r.topic, r.key, r.value]), values.map((v, i) => [i, TOPIC, 'tenant_a', v]));
    await spool.close();
  });

  it('refuses appends beyond its cap', () => {
    const spool = new EventSpool({ dir: freshDir(), maxBytes: 10_000 }, silentEventBusLogger);
    let stored = 0;
    while (spool.append(TOPIC, 'tenant_a', serializeEvent(requestEvent('tenant_a', stored))) !== undefined) stored++;
    assert.ok(stored > 0 && spool.bytes <= 10_000);
    void spool.close();
  });
});

describe('BatchingPublisher with a spool', () => {
  it('keeps far more than its memory buffer while the log is down, and delivers all of it in order once it is back', async () => {
    const log = fakeLog();
    log.state.up = false;
    const spool = new EventSpool({ dir: freshDir(), fsyncIntervalMs: 2, segmentBytes: 64 * 1024 }, silentEventBusLogger);
    const publisher = new BatchingPublisher(log.send, { ...fast, maxBufferedEvents: 20, maxBatchSize: 10 }, silentEventBusLogger, undefined, { spool });
    for (let i = 0; i < 2_000; i++) publisher.publish(requestEvent(i % 2 ? 'tenant_a' : 'tenant_b', i));
    assert.equal(publisher.stats().failed, 0, 'nothing dropped although memory holds 20');
    assert.equal(publisher.stats().buffered, 2_000);
    log.state.up = true;
    await publisher.flush({ timeoutMs: 30_000 });
    assert.equal(log.accepted.length, 2_000);
    assert.deepEqual(log.seqs('tenant_a'), Array.from({ length: 1_000 }, (_, i) => 2 * i + 1));
    assert.deepEqual(log.seqs('tenant_b'), Array.from({ length: 1_000 }, (_, i) => 2 * i));
    assert.equal(spool.records, 0);
    await publisher.close();
  });

  it('a publisher started on the spool of one that never delivered (killed) sends that backlog first, in order', async () => {
    const dir = freshDir();
    const dead = fakeLog();
    dead.state.up = false;
    const first = new BatchingPublisher(dead.send, { ...fast, closeTimeoutMs: 50 }, silentEventBusLogger, undefined, { spool: new EventSpool({ dir, fsyncIntervalMs: 1 }, silentEventBusLogger) });
    for (let i = 0; i < 300; i++) first.publish(requestEvent('tenant_a', i));
    // Let the fsync interval pass, then abandon `first` without close(): what a SIGKILL leaves.
    await new Promise((r) => setTimeout(r, 50));
    const log = fakeLog();
    const second = new BatchingPublisher(log.send, fast, silentEventBusLogger, undefined, { spool: new EventSpool({ dir }, silentEventBusLogger) });
    for (let i = 300; i < 310; i++) second.publish(requestEvent('tenant_a', i));
    await second.flush({ timeoutMs: 30_000 });
    assert.deepEqual(log.seqs(), Array.from({ length: 310 }, (_, i) => i));
    await second.close();
    await first.close().catch(() => undefined);
  });

  it('past the cap: a shed tenant is refused (accepting false), a count tenant keeps being served and its losses are counted', async () => {
    const log = fakeLog();
    log.state.up = false;
    const spool = new EventSpool({ dir: freshDir(), maxBytes: 64 * 1024 }, silentEventBusLogger);
    const policy = (tenant: string) => (tenant === 'tenant_count' ? 'count' : 'shed');
    const publisher = new BatchingPublisher(log.send, { ...fast, maxEventBytes: 4096, closeTimeoutMs: 50 }, silentEventBusLogger, undefined, {
      spool,
      lossPolicy: policy,
    });
    assert.equal(publisher.accepting('tenant_shed'), true);
    let n = 0;
    while (publisher.accepting('tenant_shed')) publisher.publish(requestEvent('tenant_shed', n++));
    assert.equal(publisher.stats().failed, 0, 'a shed tenant that checks accepting() loses nothing');
    assert.equal(publisher.accepting('tenant_count'), true);
    for (let i = 0; i < 100; i++) publisher.publish(requestEvent('tenant_count', i));
    const stats = publisher.stats();
    assert.ok(stats.failed > 0);
    assert.equal(stats.lostByTenant?.tenant_count, stats.failed);
    log.state.up = true;
    await eventually(() => assert.equal(publisher.accepting('tenant_shed'), true), 20_000);
    await publisher.close();
  });
});
