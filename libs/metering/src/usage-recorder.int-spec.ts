import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ClickHouseHttpStore, isRowRejection, migrate } from '@asc/analytics';
import {
  createEvent,
  EVENT_GATEWAY_REQUEST_COMPLETED,
  KafkaEventBus,
  originalValue,
  serializeEvent,
  silentEventBusLogger,
  TOPIC_GATEWAY_REQUEST_V1,
  type RequestCompletedV1,
} from '@asc/events';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, infra, missingInfra, repoRoot } from '@asc/testing';
import { recordRequestEvents } from './usage-recorder';

const execFileAsync = promisify(execFile);
const RUN = `mtr-${randomBytes(4).toString('hex')}`;

function completed(tenantId: string, n: number, overrides: Partial<RequestCompletedV1> = {}): RequestCompletedV1 {
  return {
    requestId: `${tenantId}:${n}`, tenantId, appId: 'app', keyId: 'key', api: 'openai.chat.completions', stream: false,
    requestedModel: 'm', servedModel: 'm', provider: 'openai', deploymentId: 'd', region: 'eu-west-1', credentialId: 'c',
    credentialVersion: 1, policyId: 'p', policyVersion: 1, decision: 'allow', reasonCode: '', status: 'ok', httpStatus: 200,
    inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, costUsd: 0.001, latencyMs: 12, ttftMs: 0, startedAtMs: Date.now(),
    ...overrides,
  };
}

/**
 * The metering consumer on the real Kafka and ClickHouse: every event lands exactly once
 * although each is on the log twice and the consumer is replaced mid-stream; a message that
 * does not parse and one ClickHouse cannot hold (a count above UInt32) go to the dead-letter
 * topic with their original bytes, and their partition moves on.
 */
describe('metering consumer: commit after ClickHouse, dead letters, exactly-once rows', async () => {
  const skip = await missingInfra('kafka', 'clickhouse');
  const database = `asc_it_${RUN.replace(/-/g, '_')}`;
  const topicPrefix = `${RUN}.`;
  const store = new ClickHouseHttpStore({ url: infra.clickhouseUrl });
  const buses: KafkaEventBus[] = [];
  const bus = () => {
    const b = new KafkaEventBus({
      brokers: infra.kafkaBrokers,
      clientId: 'asc-metering-int',
      topicPrefix,
      logger: silentEventBusLogger,
      topics: { partitions: 3 },
      consumer: { retry: { initialMs: 100, maxMs: 500 }, maxWaitTimeMs: 200, maxBatchSize: 40 },
    });
    buses.push(b);
    return b;
  };

  after(async () => {
    await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
    if (!skip) await store.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await store.close();
  });

  it('stores each request once, dead-letters poison messages, stalls no partition', { skip, timeout: 120_000 }, async () => {
    await migrate(store, database);
    const producer = bus();
    await producer.ensureTopics();
    const tenants = ['t-a', 't-b', 't-c', 't-d'];
    const perTenant = 60;
    const valid: string[] = [];
    for (let n = 0; n < perTenant; n++) {
      for (const t of tenants) {
        const value = serializeEvent(createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId: t, source: 'asc/test' }, completed(t, n)));
        valid.push(value);
        await producer.sendRaw(TOPIC_GATEWAY_REQUEST_V1, t, value);
        if (n === 20) {
          await producer.sendRaw(TOPIC_GATEWAY_REQUEST_V1, t, '{poison');
          const tooBig = createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId: t, source: 'asc/test' }, completed(t, 10_000, { inputTokens: 2 ** 32 }));
          await producer.sendRaw(TOPIC_GATEWAY_REQUEST_V1, t, serializeEvent(tooBig));
        }
      }
    }
    // Every valid event a second time, as a producer retry or a replay would.
    for (const [i, value] of valid.entries()) await producer.sendRaw(TOPIC_GATEWAY_REQUEST_V1, tenants[i % tenants.length], value);

    const group = `${topicPrefix}metering`;
    const subscribe = (b: KafkaEventBus) =>
      b.subscribe({ groupId: group, topics: [TOPIC_GATEWAY_REQUEST_V1], handleBatch: (e) => recordRequestEvents(store, database, e), isRejection: isRowRejection });
    const firstBus = bus();
    const first = await subscribe(firstBus);
    // Replace the consumer once it has made some progress: the next one resumes from committed offsets.
    await eventually(async () => assert.ok(first.stats().delivered > 50), 60_000);
    await first.stop();
    const second = await subscribe(bus());

    const expected = tenants.length * perTenant;
    await eventually(async () => {
      const [row] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${database}.requests FINAL`);
      assert.equal(Number(row.n), expected);
    }, 90_000);
    // Not only collapsed at read time: the idempotent insert skipped the copies (no FINAL here).
    const [raw] = await store.query<{ n: string; u: string }>(`SELECT count() AS n, uniqExact(request_id) AS u FROM ${database}.requests`);
    assert.equal(Number(raw.u), expected, '0 lost');
    assert.equal(Number(raw.n), expected, '0 duplicated');

    // Dead letters are at-least-once too (a consumer replaced between writing one and committing
    // writes it again): one per source position is what counts.
    const dead = await eventually(async () => {
      const records = [...new Map((await firstBus.readDeadLetters()).map((r) => [`${r.topic}#${r.partition}#${r.offset}`, r])).values()];
      assert.equal(records.length, 2 * tenants.length);
      return records;
    }, 30_000);
    const codes = dead.map((d) => d.code).sort();
    assert.deepEqual(codes, [...Array(tenants.length).fill('malformed_json'), ...Array(tenants.length).fill('sink_rejected')].sort());
    assert.ok(dead.filter((d) => d.code === 'malformed_json').every((d) => originalValue(d).toString('utf8') === '{poison'));
    const rejected = dead.find((d) => d.code === 'sink_rejected');
    assert.match(rejected?.detail ?? '', /input_tokens/);
    assert.equal((JSON.parse(originalValue(rejected!).toString('utf8')) as { data: { inputTokens: number } }).data.inputTokens, 2 ** 32);
    assert.ok(first.stats().deadLettered + second.stats().deadLettered >= 2 * tenants.length);

    // The replay tool puts dead letters back on their topic (here unchanged, so the consumer dead-letters them again).
    const cli = (...args: string[]) =>
      execFileAsync(process.execPath, ['-r', join(repoRoot, 'tools/scripts/register-paths.js'), join(repoRoot, 'dist/tools/dlq/src/main.js'), ...args], {
        env: { ...process.env, KAFKA_BROKERS: infra.kafkaBrokers.join(','), KAFKA_TOPIC_PREFIX: topicPrefix },
      });
    const listed = await cli('list', '--code', 'malformed_json');
    assert.match(listed.stderr, new RegExp(`^${tenants.length} dead letter`, 'm'));
    assert.ok(!listed.stdout.includes('valueBase64'), 'list shows reasons and positions, not payloads');
    const replayed = await cli('replay', '--code', 'malformed_json');
    assert.match(replayed.stderr, new RegExp(`replayed ${tenants.length} message`));
    await eventually(async () => {
      const again = (await firstBus.readDeadLetters()).filter((r) => r.code === 'malformed_json');
      assert.equal(new Set(again.map((r) => `${r.partition}#${r.offset}`)).size, 2 * tenants.length);
    }, 60_000);
  });
});
