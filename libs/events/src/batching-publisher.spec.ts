import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { eventually } from '@asc/testing';
import { BatchingPublisher, type OutboundMessage } from './batching-publisher';
import { parseEvent } from './envelope';
import { EventBusError } from './event-bus.error';
import type { EventBusLogger, LogFields } from './event-bus.port';
import { requestEvent, seqOf } from './request-completed.fixture';

/** Records log lines so tests can check what an operator would see. */
function recordingLogger(): EventBusLogger & { lines: Array<{ level: string; message: string; fields?: LogFields }> } {
  const lines: Array<{ level: string; message: string; fields?: LogFields }> = [];
  const at = (level: string) => (message: string, fields?: LogFields) => lines.push({ level, message, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A fake log (the transport port): records batches, and can be switched off. */
function fakeLog() {
  const batches: OutboundMessage[][] = [];
  const state = { up: true, attempts: 0 };
  const send = async (batch: readonly OutboundMessage[]) => {
    state.attempts++;
    if (!state.up) throw new Error('connect ECONNREFUSED 127.0.0.1:9092');
    batches.push([...batch]);
  };
  const seqs = () => batches.flat().map((m) => {
    const parsed = parseEvent(m.value);
    assert.ok(parsed.ok);
    return parsed.ok ? seqOf(parsed.event) : -1;
  });
  return { batches, state, send, seqs };
}

const fastRetry = { initialMs: 5, maxMs: 20 };

/** The collector, on demand (the flag is set at run time: the test runner's node arguments are fixed). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('BatchingPublisher', () => {
  it('lets go of an event once the log has it, and keeps the envelope only for a log that asks for it', async () => {
    const gc = collector();
    for (const keepEnvelopes of [false, true]) {
      const sent: OutboundMessage[] = [];
      const publisher = new BatchingPublisher(async (batch) => void sent.push(...batch.map((m) => ({ ...m }))), { lingerMs: 1, keepEnvelopes }, recordingLogger());
      const refs: Array<WeakRef<object>> = [];
      for (let i = 0; i < 50; i++) {
        const event = requestEvent('tenant_a', i);
        refs.push(new WeakRef(event));
        publisher.publish(event);
      }
      publisher.publish(requestEvent('tenant_a', 50)); // untracked: the last value a loop or a call saw is not ours to judge
      await publisher.flush();
      assert.equal(sent.length, 51);
      assert.equal(sent.every((m) => m.event !== undefined), keepEnvelopes, 'the envelope travels with its bytes only when kept');
      sent.length = 0;
      await new Promise((r) => setImmediate(r));
      gc();
      // The last event may outlive its send in the engine's own bookkeeping (it does with
      // keepEnvelopes false too, where the publisher never holds the envelope): not judged.
      const kept = refs.slice(0, -1).flatMap((r, i) => (r.deref() ? [i] : []));
      assert.deepEqual(kept, [], 'no sent event stays in memory (before: kept until 4,096 more were sent)');
      await publisher.close();
    }
  });

  it('publishes without blocking and sends in batches bounded by maxBatchSize', async () => {
    const log = fakeLog();
    const publisher = new BatchingPublisher(log.send, { maxBatchSize: 100, lingerMs: 5 }, recordingLogger());
    for (let i = 0; i < 1_050; i++) publisher.publish(requestEvent('tenant_a', i));
    assert.equal(log.batches.length, 0, 'nothing is sent synchronously inside publish()');
    assert.equal(publisher.stats().buffered, 1_050);
    await publisher.flush();
    assert.deepEqual(publisher.stats(), { buffered: 0, sent: 1_050, failed: 0, retries: 0, spooledBytes: 0, lostByTenant: {} });
    assert.ok(log.batches.every((b) => b.length <= 100));
    assert.equal(log.batches.length, 11);
    assert.deepEqual(log.seqs(), Array.from({ length: 1_050 }, (_, i) => i));
    assert.ok(log.batches.flat().every((m) => m.key === 'tenant_a' && m.topic === 'asc.gateway.request.v1'));
  });

  it('under steady load, each batch waits lingerMs for company, not only the first after a pause', async () => {
    // A log with a 10 ms round trip (Kafka acks=all) and an event every millisecond.
    const batches: number[] = [];
    const send = async (batch: readonly OutboundMessage[]) => {
      await new Promise((r) => setTimeout(r, 10));
      batches.push(batch.length);
    };
    const publisher = new BatchingPublisher(send, { lingerMs: 50 }, recordingLogger());
    const started = Date.now();
    for (let i = 0; i < 300; i++) {
      publisher.publish(requestEvent('tenant_a', i));
      await new Promise((r) => setTimeout(r, 1));
    }
    const publishing = Date.now() - started;
    await publisher.flush();
    assert.equal(batches.reduce((a, b) => a + b, 0), 300);
    // Sent as soon as the previous batch was acknowledged, they went out ~10 at a time (one
    // batch per round trip); lingering, one batch per ~60 ms (linger + round trip), and the flush.
    assert.ok(batches.length <= Math.ceil(publishing / 50) + 1, `${batches.length} batches in ${publishing} ms: ${batches.join(', ')}`);
  });

  it('also bounds a batch by bytes', async () => {
    const log = fakeLog();
    const publisher = new BatchingPublisher(log.send, { maxBatchBytes: 3_000 }, recordingLogger());
    for (let i = 0; i < 20; i++) publisher.publish(requestEvent('tenant_a', i));
    await publisher.flush();
    assert.ok(log.batches.length > 1);
    assert.ok(log.batches.every((b) => b.reduce((n, m) => n + m.bytes, 0) <= 3_000));
  });

  it('keeps events while the log is down, retries the same batch, and loses nothing', async () => {
    const log = fakeLog();
    const logger = recordingLogger();
    const publisher = new BatchingPublisher(log.send, { maxBatchSize: 10, retry: fastRetry }, logger);
    log.state.up = false;
    for (let i = 0; i < 25; i++) publisher.publish(requestEvent(`t${i % 3}`, i));
    await eventually(() => assert.ok(publisher.stats().retries >= 3));
    for (let i = 25; i < 40; i++) publisher.publish(requestEvent(`t${i % 3}`, i));
    assert.equal(publisher.stats().buffered, 40);
    assert.equal(publisher.stats().sent, 0);
    log.state.up = true;
    await publisher.flush({ timeoutMs: 5_000 });
    assert.equal(publisher.stats().sent, 40);
    assert.equal(publisher.stats().failed, 0);
    assert.deepEqual(log.seqs(), Array.from({ length: 40 }, (_, i) => i), 'every event, in publish order');
    assert.equal(log.batches[0].length, 10, 'the batch that failed is resent as it was, not regrouped');
    const warnings = logger.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    assert.ok(warnings.includes('event log unreachable: buffering events and retrying'));
    assert.ok(warnings.includes('event log reachable again: delivering the buffered events'));
    assert.equal(warnings.filter((m) => m.startsWith('event log unreachable')).length, 1, 'one line per outage, not per retry');
  });

  it('drops beyond the buffer bound, counts the loss and says so once', async () => {
    const log = fakeLog();
    const logger = recordingLogger();
    const publisher = new BatchingPublisher(log.send, { maxBufferedEvents: 100, retry: fastRetry }, logger);
    log.state.up = false;
    for (let i = 0; i < 150; i++) publisher.publish(requestEvent('tenant_a', i));
    assert.deepEqual({ ...publisher.stats(), retries: 0 }, { buffered: 100, sent: 0, failed: 50, retries: 0, spooledBytes: 0, lostByTenant: { tenant_a: 50 } });
    const overflow = logger.lines.filter((l) => l.message.startsWith('event buffer full'));
    assert.equal(overflow.length, 1);
    assert.equal(overflow[0].level, 'error');
    assert.equal(overflow[0].fields?.maxBufferedEvents, 100);
    log.state.up = true;
    await publisher.flush({ timeoutMs: 5_000 });
    assert.deepEqual(log.seqs(), Array.from({ length: 100 }, (_, i) => i), 'the oldest 100 are kept, the newest dropped');
    assert.equal(publisher.stats().failed, 50);
  });

  it('bounds the buffer by bytes too', async () => {
    const log = fakeLog();
    log.state.up = false;
    const publisher = new BatchingPublisher(log.send, { maxBufferedBytes: 5_000, retry: fastRetry, closeTimeoutMs: 10 }, recordingLogger());
    for (let i = 0; i < 20; i++) publisher.publish(requestEvent('tenant_a', i));
    const { buffered, failed } = publisher.stats();
    assert.ok(buffered > 0 && buffered < 20);
    assert.equal(buffered + failed, 20);
    await publisher.close();
  });

  it('flush with a deadline rejects with flush_timeout and keeps the events', async () => {
    const log = fakeLog();
    log.state.up = false;
    const publisher = new BatchingPublisher(log.send, { retry: fastRetry }, recordingLogger());
    publisher.publish(requestEvent('tenant_a', 1));
    await assert.rejects(publisher.flush({ timeoutMs: 50 }), (err: unknown) => err instanceof EventBusError && err.code === 'flush_timeout');
    assert.equal(publisher.stats().buffered, 1);
    log.state.up = true;
    await publisher.flush();
    assert.equal(publisher.stats().sent, 1);
  });

  it('close delivers the buffer, then refuses new events', async () => {
    const log = fakeLog();
    let closedHook = false;
    const publisher = new BatchingPublisher(log.send, {}, recordingLogger(), async () => {
      closedHook = true;
    });
    for (let i = 0; i < 5; i++) publisher.publish(requestEvent('tenant_a', i));
    await publisher.close();
    assert.ok(closedHook);
    assert.equal(publisher.stats().sent, 5);
    publisher.publish(requestEvent('tenant_a', 6));
    assert.equal(publisher.stats().failed, 1);
  });

  it('close gives up after closeTimeoutMs and counts what is left as failed', async () => {
    const log = fakeLog();
    const logger = recordingLogger();
    log.state.up = false;
    const publisher = new BatchingPublisher(log.send, { retry: fastRetry, closeTimeoutMs: 50 }, logger);
    for (let i = 0; i < 7; i++) publisher.publish(requestEvent('tenant_a', i));
    await publisher.close();
    assert.deepEqual({ ...publisher.stats(), retries: 0 }, { buffered: 0, sent: 0, failed: 7, retries: 0, spooledBytes: 0, lostByTenant: { tenant_a: 7 } });
    assert.ok(logger.lines.some((l) => l.level === 'error' && l.fields?.lost === 7));
    const attempts = log.state.attempts;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(log.state.attempts, attempts, 'no retries after close');
  });
});
