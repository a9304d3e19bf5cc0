// Kafka → ClickHouse ingestion, measured the way metering runs it (same consumer settings
// as apps/metering: minBytes 256 KiB, maxWait 1 s, idempotent insert per batch).
//   node -r ./tools/scripts/register-paths.js dist/tools/drills/src/ingest-throughput.js [events] [lagRate] [lagSeconds]
// Phase 1: `events` request events are put on a fresh topic, then one metering consumer
// drains them into a fresh database: events/s = events / time until count() FINAL = events.
// Phase 2: `lagRate` events/s for `lagSeconds` s while the consumer runs: request-to-row lag
// = inserted_at_ms − occurred_at_ms per row, p50/p99 from ClickHouse.
import { randomBytes } from 'node:crypto';
import { ClickHouseHttpStore, isRowRejection, migrate } from '@asc/analytics';
import { createEvent, EVENT_GATEWAY_REQUEST_COMPLETED, KafkaEventBus, silentEventBusLogger, TOPIC_GATEWAY_REQUEST_V1, type RequestCompletedV1 } from '@asc/events';
import { recordRequestEvents } from '@asc/metering';

const N = Number(process.argv[2] ?? 100_000);
const RATE = Number(process.argv[3] ?? 1_000);
const LAG_SECONDS = Number(process.argv[4] ?? 20);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const clickhouseUrl = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';

function payload(tenantId: string, n: number): RequestCompletedV1 {
  return {
    requestId: `${tenantId}:${n}`, tenantId, appId: 'app', keyId: 'key', api: 'openai.chat.completions', stream: true,
    requestedModel: 'chat', servedModel: 'gpt-4o-mini', provider: 'openai', deploymentId: 'dep', region: 'eu-west-1',
    credentialId: 'cred', credentialVersion: 1, policyId: 'pol', policyVersion: 1, decision: 'allow', reasonCode: '',
    status: 'ok', httpStatus: 200, inputTokens: 120, outputTokens: 40, cachedInputTokens: 0, costUsd: 0.0001,
    latencyMs: 350, ttftMs: 90, startedAtMs: Date.now(),
  };
}
const tenants = Array.from({ length: 20 }, (_, i) => `bench-t${i}`);
const event = (n: number) => {
  const t = tenants[n % tenants.length];
  return createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId: t, source: 'asc/drill' }, payload(t, n));
};

async function count(store: ClickHouseHttpStore, db: string): Promise<number> {
  const [r] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.requests FINAL`);
  return Number(r.n);
}

async function main(): Promise<void> {
  const run = randomBytes(3).toString('hex');
  const prefix = `drill-ingest-${run}.`;
  const db = `asc_drill_${run}`;
  const store = new ClickHouseHttpStore({ url: clickhouseUrl });
  const options = { brokers, clientId: 'asc-drill', topicPrefix: prefix, logger: silentEventBusLogger, topics: { partitions: 6 } };
  const producer = new KafkaEventBus({ ...options, publisher: { lingerMs: 20, maxBatchSize: 2_000 } });
  const consumerBus = new KafkaEventBus({ ...options, consumer: { minBytes: 256 * 1024, maxWaitTimeMs: 1_000, maxBatchSize: Number(process.env.DRILL_BATCH ?? 5_000), maxBytesPerPartition: Number(process.env.DRILL_FETCH_BYTES ?? 1024 * 1024) } });
  try {
    await migrate(store, db);
    await producer.ensureTopics();
    let t = Date.now();
    for (let i = 0; i < N; i++) producer.publish(event(i));
    await producer.flush({ timeoutMs: 300_000 });
    console.log(`produced ${N} events in ${Date.now() - t} ms`);
    t = Date.now();
    const sub = await consumerBus.subscribe({
      groupId: `${prefix}metering`,
      topics: [TOPIC_GATEWAY_REQUEST_V1],
      handleBatch: (events) => recordRequestEvents(store, db, events),
      isRejection: isRowRejection,
    });
    for (let c = 0; (c = await count(store, db)) < N; ) {
      if (process.env.DRILL_VERBOSE) console.log(`  ${Date.now() - t} ms: ${c} rows, ${JSON.stringify(sub.stats())}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const ms = Date.now() - t;
    console.log(`ingested ${N} events into ClickHouse in ${ms} ms: ${Math.round((N / ms) * 1000)} events/s (consumer start to last row visible)`);

    // Phase 2: steady rate, lag per row.
    const before = await count(store, db);
    const total = RATE * LAG_SECONDS;
    const start = Date.now();
    for (let sent = 0; sent < total; ) {
      const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * RATE));
      for (; sent < due; sent++) producer.publish(event(N + sent));
      await new Promise((r) => setTimeout(r, 10));
    }
    await producer.flush({ timeoutMs: 60_000 });
    while ((await count(store, db)) < before + total) await new Promise((r) => setTimeout(r, 200));
    const [lag] = await store.query<{ q: number[]; mx: string }>(
      `SELECT quantiles(0.5, 0.99)(toInt64(inserted_at_ms) - toInt64(occurred_at_ms)) AS q, max(toInt64(inserted_at_ms) - toInt64(occurred_at_ms)) AS mx FROM ${db}.requests WHERE occurred_at_ms >= ${start}`,
    );
    console.log(`lag at ${RATE} events/s for ${LAG_SECONDS} s (${total} events): p50 ${Math.round(lag.q[0])} ms, p99 ${Math.round(lag.q[1])} ms, max ${lag.mx} ms`);
    console.log(`subscription: ${JSON.stringify(sub.stats())}`);
  } finally {
    await consumerBus.close().catch(() => undefined);
    await producer.close().catch(() => undefined);
    await store.command(`DROP DATABASE IF EXISTS ${db}`).catch(() => undefined);
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
