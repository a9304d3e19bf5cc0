// Kafka → ClickHouse ingestion, measured the way metering runs it (same consumer settings
// as apps/metering: minBytes 256 KiB, maxWait 1 s, idempotent insert per batch).
//   node -r ./tools/scripts/register-paths.js dist/tools/drills/src/ingest-throughput.js [events] [lagRate] [lagSeconds]
// Phase 1: `events` request events are put on a fresh topic, then one metering consumer (DRILL_MEMBERS=n: n
// members of its group, one process each)
// drains them into a fresh database: events/s = events / time until count() FINAL = events.
// Phase 2: `lagRate` events/s for `lagSeconds` s while the consumer runs: request-to-row lag
// = inserted_at_ms − occurred_at_ms per row, p50/p99 from ClickHouse.
// DRILL_NO_CHECK=1 (profiling only) inserts without the existence check, to show what it costs.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { ClickHouseHttpStore, isRowRejection, migrate, type AnalyticsStore } from '@asc/analytics';
import { consoleEventBusLogger, createEvent, EVENT_GATEWAY_REQUEST_COMPLETED, KafkaEventBus, silentEventBusLogger, TOPIC_GATEWAY_REQUEST_V1, type RequestCompletedV1 } from '@asc/events';
import { recordRequestEvents, toRequestRow } from '@asc/metering';

const MEMBER = process.argv[2] === '--member';
const N = MEMBER ? 0 : Number(process.argv[2] ?? 100_000);
const RATE = Number(process.argv[3] ?? 1_000);
const LAG_SECONDS = Number(process.argv[4] ?? 20);
/** As apps/metering runs its consumer (DRILL_BATCH / DRILL_FETCH_BYTES to try others). */
const consumerSettings = {
  minBytes: 256 * 1024,
  maxWaitTimeMs: 1_000,
  maxBatchSize: Number(process.env.DRILL_BATCH ?? 10_000),
  maxBytesPerPartition: Number(process.env.DRILL_FETCH_BYTES ?? 8 * 1024 * 1024),
};
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

async function count(store: ClickHouseHttpStore, db: string, final = true): Promise<number> {
  const [r] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${db}.requests${final ? ' FINAL' : ''}`);
  return Number(r.n);
}

/** Wall time the consumer spends in the store, by call kind (SELECTs vs inserts). */
class TimedStore implements AnalyticsStore {
  readonly ms = { query: 0, insert: 0, queries: 0, inserts: 0, rows: 0 };
  constructor(private readonly inner: AnalyticsStore) {}
  command(sql: string): Promise<void> {
    return this.inner.command(sql);
  }
  async insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    const t = performance.now();
    await this.inner.insert(table, rows);
    this.ms.insert += performance.now() - t;
    this.ms.inserts++;
    this.ms.rows += rows.length;
  }
  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    const t = performance.now();
    const rows = await this.inner.query<T>(sql);
    this.ms.query += performance.now() - t;
    this.ms.queries++;
    return rows;
  }
  ping(): Promise<boolean> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** CPU seconds (user + system) used so far by every process whose command line contains `needle`. */
function cpuSecondsOf(needle: string): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // gone meanwhile
    }
  }
  return ticks / 100; // USER_HZ
}

function cpuSnapshot(): { self: number; clickhouse: number; broker: number } {
  const u = process.cpuUsage();
  return { self: (u.user + u.system) / 1e6, clickhouse: cpuSecondsOf('clickhouse-server'), broker: cpuSecondsOf('kafka.Kafka') };
}

async function main(): Promise<void> {
  const run = randomBytes(3).toString('hex');
  const prefix = `drill-ingest-${run}.`;
  const db = `asc_drill_${run}`;
  const store = new ClickHouseHttpStore({ url: clickhouseUrl });
  const options = { brokers, clientId: 'asc-drill', topicPrefix: prefix, logger: process.env.DRILL_VERBOSE ? consoleEventBusLogger : silentEventBusLogger, topics: { partitions: 6 } };
  const producer = new KafkaEventBus({ ...options, publisher: { lingerMs: 20, maxBatchSize: 2_000 } });
  const consumerBus = new KafkaEventBus({ ...options, consumer: consumerSettings });
  const members = Number(process.env.DRILL_MEMBERS ?? 1);
  const children: ChildProcess[] = [];
  try {
    await migrate(store, db);
    await producer.ensureTopics();
    let t = Date.now();
    // In slices the publisher's memory buffer (64 MiB ≈ 75 000 events) holds: past it, events are dropped.
    for (let i = 0; i < N; i++) {
      producer.publish(event(i));
      if (i % 20_000 === 19_999) await producer.flush({ timeoutMs: 300_000 });
    }
    await producer.flush({ timeoutMs: 300_000 });
    const lost = producer.stats().failed;
    if (lost) throw new Error(`the producer dropped ${lost} events`);
    console.log(`produced ${N} events in ${Date.now() - t} ms`);
    console.log(`load average before the consumer starts: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const timed = new TimedStore(store);
    const cpu0 = cpuSnapshot();
    t = Date.now();
    // Extra members of the same consumer group, one process each (node runs one core per process).
    for (let m = 1; m < members; m++) {
      children.push(fork(__filename, ['--member', prefix, db], { stdio: 'inherit', execArgv: process.execArgv }));
    }
    let handled = 0;
    let inFlight = 0;
    let firstBatchAt = 0;
    const sub = await consumerBus.subscribe({
      groupId: `${prefix}metering`,
      topics: [TOPIC_GATEWAY_REQUEST_V1],
      handleBatch: async (events) => {
        firstBatchAt ||= Date.now();
        const h = performance.now();
        inFlight++;
        try {
          if (process.env.DRILL_NO_CHECK) {
            // Profiling only (not exactly-once): the insert without the existence check, to see what the check costs.
            const insertedAt = Date.now();
            await timed.insert(`${db}.requests`, events.map((e) => ({ ...toRequestRow(e), inserted_at_ms: insertedAt })));
          } else await recordRequestEvents(timed, db, events);
        } finally {
          inFlight--;
        }
        handled += performance.now() - h;
      },
      isRejection: isRowRejection,
    });
    // count() without FINAL reads part metadata only: cheap to poll; FINAL checks the end.
    for (let c = 0; (c = await count(store, db, false)) < N; ) {
      if (process.env.DRILL_VERBOSE) console.log(`  ${Date.now() - t} ms: ${c} rows, ${JSON.stringify(sub.stats())}, handleBatch in flight ${inFlight}, store ${JSON.stringify(timed.ms)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const ms = Date.now() - t;
    const cpu1 = cpuSnapshot();
    const memberCpu = cpuSecondsOf(prefix); // only the members have the prefix in their command line
    const exact = await count(store, db);
    const afterFirst = Date.now() - t - (firstBatchAt - t);
    console.log(`ingested ${N} events into ClickHouse in ${ms} ms: ${Math.round((N / ms) * 1000)} events/s (consumer start to last row visible; ${Math.round((N / afterFirst) * 1000)} events/s from the first batch handed over, ${firstBatchAt - t} ms to join and fetch); count() FINAL = ${exact}`);
    const f = (x: number) => Math.round(x);
    console.log(
      `  consumer wall time in handleBatch ${f(handled)} ms (summed over partitions): existence SELECTs ${f(timed.ms.query)} ms in ${timed.ms.queries}, inserts ${f(timed.ms.insert)} ms in ${timed.ms.inserts} (${timed.ms.rows} rows)`,
    );
    console.log(
      `  CPU during ingestion (s): drill/consumer process ${(cpu1.self - cpu0.self).toFixed(2)}${members > 1 ? ` + ${members - 1} more member(s) ${memberCpu.toFixed(2)}` : ''}, clickhouse-server ${(cpu1.clickhouse - cpu0.clickhouse).toFixed(2)}, broker ${(cpu1.broker - cpu0.broker).toFixed(2)}; load average after ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );

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
    for (const child of children) child.kill('SIGTERM');
    await consumerBus.close().catch(() => undefined);
    await producer.close().catch(() => undefined);
    await store.command(`DROP DATABASE IF EXISTS ${db}`).catch(() => undefined);
    await store.close();
  }
}

/** A further member of the drill's consumer group (DRILL_MEMBERS > 1): consumes until SIGTERM. */
async function member(prefix: string, db: string): Promise<void> {
  const store = new ClickHouseHttpStore({ url: clickhouseUrl });
  const bus = new KafkaEventBus({ brokers, clientId: 'asc-drill-member', topicPrefix: prefix, logger: silentEventBusLogger, consumer: consumerSettings });
  await bus.subscribe({
    groupId: `${prefix}metering`,
    topics: [TOPIC_GATEWAY_REQUEST_V1],
    handleBatch: (events) => recordRequestEvents(store, db, events),
    isRejection: isRowRejection,
  });
  process.once('SIGTERM', () => {
    void bus
      .close()
      .catch(() => undefined)
      .then(() => store.close())
      .finally(() => process.exit(0));
  });
}

(MEMBER ? member(process.argv[3], process.argv[4]) : main()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
