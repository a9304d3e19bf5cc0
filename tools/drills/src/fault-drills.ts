// Fault drills of issue 12 (docs/reliability.md, "Drills"): a steady load of real requests
// through a production-mode ASC (ingress, policy, routing, secrets, metering and audit as
// separate processes, real Postgres, Kafka and ClickHouse) while a fault is injected; at the
// end, requests answered 200 are compared with rows in ClickHouse (`requests FINAL`, and the
// raw rows for copies) and with audit records in Postgres: lost, duplicated, time to catch up.
//
//   npm run build
//   node -r ./tools/scripts/register-paths.js dist/tools/drills/src/fault-drills.js \
//     --drill consumers-kill|broker-down|clickhouse-down|ingress-kill|poison|all \
//     [--rate 100] [--duration 60] [--outage 60] [--kills 10] [--json]
//
// Kafka and ClickHouse are a second broker (127.0.0.1:29092) and a second ClickHouse server
// (127.0.0.1:28123) started with `tools/infra/kafka.sh drill` and `tools/infra/clickhouse.sh
// drill` (and stopped at the end when this run started them): the drills stop and restart
// them; the shared 9092 / 8123 are never touched. Postgres is the shared one (a throwaway
// database per run).
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  createEvent,
  EVENT_BUDGET_THRESHOLD,
  EVENT_GATEWAY_REQUEST_COMPLETED,
  KafkaEventBus,
  silentEventBusLogger,
  TOPIC_ADMIN_CHANGE_V1,
  TOPIC_CONTROL_CONFIG_V1,
  TOPIC_GATEWAY_REQUEST_V1,
  TOPIC_SPEND_BUDGET_V1,
  type EventTopic,
} from '@asc/events';
import { freePort } from '@asc/service-kit';
import { repoRoot, startNodeProcess, startProductionSuite, type NodeProcess, type ProductionSuite } from '@asc/testing';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { Pool } from 'undici';

export const DRILLS = ['consumers-kill', 'broker-down', 'clickhouse-down', 'ingress-kill', 'poison'] as const;
export type DrillName = (typeof DRILLS)[number];

export const DRILL_KAFKA = process.env.ASC_DRILL_KAFKA_BROKERS ?? '127.0.0.1:29092';
export const DRILL_CLICKHOUSE = process.env.ASC_DRILL_CLICKHOUSE_URL ?? 'http://127.0.0.1:28123';
const MODEL = 'gpt-4o-mini';

export interface DrillOptions {
  /** Requests per second of the steady load (open loop). */
  rate: number;
  /** How long the load runs, at least (a fault sequence longer than this extends it). */
  durationMs: number;
  /** broker-down, clickhouse-down, ingress-kill: how long the broker / ClickHouse stays down. */
  outageMs?: number;
  /** consumers-kill: how many times metering and audit are SIGKILLed and restarted. */
  kills?: number;
  /** Give up waiting for the rows after this long past the end of the load. */
  catchUpTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface PoisonResult {
  /** Poison messages written: two per topic (bytes that are not JSON, JSON that is not an event). */
  injected: number;
  /** (topic, consumer group) pairs that must have dead-lettered both poisons. */
  expected: string[];
  /** Those without their two dead letters. */
  missing: string[];
  deadLetters: number;
  /** Partitions (group × topic × partition) whose committed offset stays behind the end of the log. */
  stalledPartitions: number;
  /** Good messages written after the poisons and seen by their consumers. */
  afterPoison: { requestRows: boolean; adminChangeAudited: boolean; budgetEventStored: boolean; keyRevocationApplied: boolean };
}

export interface DrillResult {
  drill: DrillName;
  rate: number;
  /** Load duration actually run. */
  loadMs: number;
  sent: number;
  answered200: number;
  /** Other HTTP answers by status (e.g. 503 while ingress was being restarted). */
  otherStatus: Record<string, number>;
  /** Requests without an answer (connection refused or reset: ingress was down). */
  noAnswer: number;
  clickhouse: {
    /** Answered 200 and not in `requests FINAL`. */
    lost: number;
    /** Request ids with more than one row in `requests FINAL`. */
    duplicated: number;
    /** Rows beyond one per request id before merging (collapsed by FINAL). */
    rawCopies: number;
    /** Rows of requests whose answer never reached the client (in flight when ingress died). */
    unconfirmed: number;
  };
  audit: { lost: number; duplicated: number; unconfirmed: number };
  /**
   * From the end of the fault (broker or ClickHouse back, last consumer restarted, ingress
   * restarted) until every request answered 200 before that moment is in ClickHouse FINAL and
   * in audit: how long the backlog took to drain while the load went on. Null for the poison drill.
   */
  recoveryMs: number | null;
  /** From the last answer of the load until every 200 is in ClickHouse FINAL and in audit; null: not within catchUpTimeoutMs. */
  catchUpMs: number | null;
  /** What was done and when (ms from the start of the load). */
  timeline: string[];
  poison?: PoisonResult;
}

const run = promisify(execFile);
/** Request ids of earlier drills of this process (the drills share one suite and its tables), and of the poison drill's own checks. */
const drillSeen = new Set<string>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `tools/infra/<service>.sh drill <command>`: the drill's own broker / ClickHouse server. */
export async function drillInfra(service: 'kafka' | 'clickhouse', command: 'start' | 'stop' | 'status'): Promise<boolean> {
  try {
    await run('bash', [join(repoRoot, 'tools/infra', `${service}.sh`), 'drill', command], { timeout: 240_000 });
    return true;
  } catch (err) {
    if (command === 'status') return false;
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`tools/infra/${service}.sh drill ${command} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

/** Open-loop load of non-streamed chat completions; keeps the request id of every 200. */
class SteadyLoad {
  readonly ok = new Set<string>();
  readonly otherStatus: Record<string, number> = {};
  noAnswer = 0;
  sent = 0;
  lastAnswerAt = 0;
  private readonly pool: Pool;
  private readonly path: string;
  private stopped = false;
  private readonly body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'drill' }], max_tokens: 8 });

  constructor(
    url: string,
    private readonly key: string,
    private readonly rate: number,
  ) {
    const u = new URL(url);
    this.path = u.pathname;
    this.pool = new Pool(u.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 10_000, headersTimeout: 30_000, bodyTimeout: 30_000, connect: { timeout: 2_000 } });
  }

  /** Runs until stop(); resolves once every request sent has its outcome. */
  async run(): Promise<void> {
    const inflight = new Set<Promise<void>>();
    const start = performance.now();
    for (let i = 0; !this.stopped; i++) {
      const wait = start + (i * 1000) / this.rate - performance.now();
      if (wait > 1) await sleep(wait);
      if (this.stopped) break;
      this.sent++;
      const p = this.send().finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
    await this.pool.close();
  }

  stop(): void {
    this.stopped = true;
  }

  private async send(): Promise<void> {
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: this.path,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.key}` },
        body: this.body,
      });
      await res.body.dump();
      this.lastAnswerAt = Date.now();
      const id = res.headers['x-request-id'];
      if (res.statusCode === 200 && typeof id === 'string') this.ok.add(id);
      else this.otherStatus[res.statusCode] = (this.otherStatus[res.statusCode] ?? 0) + 1;
    } catch {
      this.noAnswer++;
    }
  }
}

export interface DrillEnvironment {
  readonly suite: ProductionSuite;
  readonly tenantId: string;
  readonly key: string;
  readonly spoolDir: string;
  close(): Promise<void>;
}

/**
 * Starts (when not running) the drill broker and ClickHouse, the provider simulator and a
 * production suite against them, and a tenant with a key and an OpenAI deployment.
 */
export async function startDrillEnvironment(log: (line: string) => void = () => undefined): Promise<DrillEnvironment> {
  const ours: Array<'kafka' | 'clickhouse'> = [];
  const custom = { kafka: !!process.env.ASC_DRILL_KAFKA_BROKERS, clickhouse: !!process.env.ASC_DRILL_CLICKHOUSE_URL };
  for (const service of ['kafka', 'clickhouse'] as const) {
    if (custom[service] || (await drillInfra(service, 'status'))) continue;
    log(`starting the drill ${service} (tools/infra/${service}.sh drill start)`);
    await drillInfra(service, 'start');
    ours.push(service);
  }
  const spoolDir = mkdtempSync(join(tmpdir(), 'asc-drill-spool-'));
  let simulator: NodeProcess | undefined;
  let suite: ProductionSuite | undefined;
  const close = async () => {
    await suite?.stop();
    await simulator?.stop();
    rmSync(spoolDir, { recursive: true, force: true });
    if (process.env.ASC_KEEP_DRILL_INFRA !== '1') for (const s of ours) await drillInfra(s, 'stop').catch(() => undefined);
  };
  try {
    const simPort = await freePort();
    simulator = startNodeProcess('tools/simulator/src/main.js', { SIM_PORT: String(simPort) });
    await simulator.waitForLine(/"url"/, 30_000);
    const start = () =>
      startProductionSuite({
        kafkaBrokers: DRILL_KAFKA.split(','),
        clickhouseUrl: DRILL_CLICKHOUSE,
        logLevel: 'error',
        // Only a config-change event can make ingress drop a cached key before this (the poison drill's check).
        ingressEnv: { INGRESS_EVENT_SPOOL_DIR: spoolDir, INGRESS_CONFIG_CACHE_TTL_MS: '600000' },
      });
    // A free port picked for a service can be taken by another process before the service binds
    // it (a shared machine): start again on other ports rather than fail the drill.
    for (let attempt = 1; !suite; attempt++) {
      try {
        suite = await start();
      } catch (err) {
        if (attempt >= 3 || !/EADDRINUSE/.test(String((err as Error).message))) throw err;
        log(`a port was taken while the suite started (attempt ${attempt}); starting again`);
      }
    }
    const tenantId = 'drill';
    await suite.admin.createTenant({ id: tenantId, name: 'Drill' });
    await suite.admin.putPolicy(tenantId, { allowedModels: [MODEL], allowedRegions: ['*'] });
    const app = await suite.admin.createApp(tenantId, 'drill');
    const { key } = await suite.admin.createApiKey(tenantId, { appId: app.id });
    const credential = await suite.admin.createCredential({ name: 'sim', provider: 'openai', secret: 'sk-drill' });
    await suite.admin.createDeployment({
      model: MODEL,
      provider: 'openai',
      upstreamModel: MODEL,
      region: 'local',
      baseUrl: `http://127.0.0.1:${simPort}/openai/v1`,
      credentialId: credential.id,
      price: { inputPerMtokUsd: 0.15, outputPerMtokUsd: 0.6 },
    });
    const s = suite;
    return { suite: s, tenantId, key, spoolDir, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Rows per request id in ClickHouse (FINAL and raw) and in the audit trail. */
async function counts(env: DrillEnvironment): Promise<{ final: Map<string, number>; raw: Map<string, number>; audit: Map<string, number> }> {
  const { suite } = env;
  const ch = async (final: boolean) => {
    const sql = `SELECT request_id, count() AS n FROM ${suite.clickhouseDatabase}.requests ${final ? 'FINAL' : ''} GROUP BY request_id FORMAT JSONEachRow`;
    const res = await fetch(suite.clickhouseUrl, { method: 'POST', body: sql, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${await res.text()}`);
    const out = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      if (!line) continue;
      const r = JSON.parse(line) as { request_id: string; n: string };
      out.set(r.request_id, Number(r.n));
    }
    return out;
  };
  const pg = new Client({ connectionString: suite.databaseUrl });
  await pg.connect();
  let audit: Map<string, number>;
  try {
    const r = await pg.query<{ request_id: string; n: string }>(
      `SELECT request_id, count(*) AS n FROM audit.records WHERE event_type = $1 GROUP BY request_id`,
      [EVENT_GATEWAY_REQUEST_COMPLETED],
    );
    audit = new Map(r.rows.map((row) => [row.request_id, Number(row.n)]));
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') audit = new Map(); // audit has not created its schema yet
    else throw err;
  } finally {
    await pg.end();
  }
  return { final: await ch(true), raw: await ch(false), audit };
}

/** The consumer groups of this suite with their committed offsets behind the end of the log, per partition. */
async function stalledPartitions(env: DrillEnvironment): Promise<{ stalled: string[]; groups: string[] }> {
  const { suite } = env;
  const kafka = new Kafka({ brokers: suite.kafkaBrokers, clientId: 'asc-drill-lag', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = [TOPIC_GATEWAY_REQUEST_V1, TOPIC_SPEND_BUDGET_V1, TOPIC_ADMIN_CHANGE_V1, TOPIC_CONTROL_CONFIG_V1].map((t) => `${suite.topicPrefix}${t}`);
    const ends = new Map<string, Map<number, { low: bigint; high: bigint }>>();
    for (const t of topics) ends.set(t, new Map((await admin.fetchTopicOffsets(t)).map((o) => [o.partition, { low: BigInt(o.low), high: BigInt(o.high) }])));
    const { groups: all } = await admin.listGroups();
    const groups = [suite.env.metering.METERING_CONSUMER_GROUP, suite.env.audit.AUDIT_CONSUMER_GROUP, ...all.map((g) => g.groupId).filter((g) => g.startsWith('asc-cache-'))];
    const stalled: string[] = [];
    for (const groupId of groups) {
      const fromBeginning = !groupId.startsWith('asc-cache-');
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) {
        // A group reads only its own topics: a topic it never committed on is not its.
        if (partitions.every((p) => p.offset === '-1')) continue;
        for (const p of partitions) {
          const end = ends.get(topic)?.get(p.partition);
          if (!end) continue;
          const committed = p.offset === '-1' ? (fromBeginning ? end.low : end.high) : BigInt(p.offset);
          if (committed < end.high) stalled.push(`${groupId} ${topic.slice(suite.topicPrefix.length)}[${p.partition}] ${committed}/${end.high}`);
        }
      }
    }
    return { stalled, groups };
  } finally {
    await admin.disconnect();
  }
}

/** True when ingress, policy, routing and secrets each have a config-listener group with its member joined (state Stable). */
async function configListenersJoined(env: DrillEnvironment): Promise<boolean> {
  const admin = new Kafka({ brokers: env.suite.kafkaBrokers, clientId: 'asc-drill-groups', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const ids = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith('asc-cache-'));
    const stable = (await admin.describeGroups(ids)).groups.filter((g) => g.state === 'Stable' && g.members.length > 0).map((g) => g.groupId);
    return ['ingress', 'policy', 'routing', 'secrets'].every((svc) => stable.some((g) => g.startsWith(`asc-cache-${svc}-`)));
  } finally {
    await admin.disconnect();
  }
}

async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // the store is down or restarting: try again
    }
    if (Date.now() > deadline) return undefined;
    await sleep(everyMs);
  }
}

function spooledBytes(dir: string): number {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  } catch {
    return 0;
  }
}

/** Runs one drill against a started environment; resolves with its numbers. */
export async function runDrill(env: DrillEnvironment, drill: DrillName, options: DrillOptions): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  const { suite } = env;
  const outageMs = options.outageMs ?? 60_000;
  const load = new SteadyLoad(`${suite.ingressBaseUrl}/chat/completions`, env.key, options.rate);
  const t0 = Date.now();
  const timeline: string[] = [];
  const mark = (what: string) => {
    const line = `${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`;
    timeline.push(line);
    log(`[${drill}] ${line}`);
  };
  const until = async (ms: number) => {
    const wait = t0 + ms - Date.now();
    if (wait > 0) await sleep(wait);
  };
  const running = load.run();
  // Once the fault is over: how long until everything answered before then has landed (polled while the load goes on).
  let recovery: Promise<number | null> = Promise.resolve(null);
  const recovered = () => {
    const at = Date.now();
    const answered = [...load.ok];
    recovery = waitUntil(async () => {
      const c = await counts(env);
      return answered.every((id) => c.final.has(id) && c.audit.has(id)) ? Date.now() - at : undefined;
    }, options.catchUpTimeoutMs ?? 180_000, 250).then((ms) => ms ?? null);
  };
  let poison: Omit<PoisonResult, 'stalledPartitions' | 'missing' | 'deadLetters'> | undefined;
  let poisonBus: KafkaEventBus | undefined;
  let poisonedAt = 0;
  let budgetEventId = '';
  try {
    mark(`load started at ${options.rate} req/s`);
    switch (drill) {
      case 'consumers-kill': {
        const kills = options.kills ?? 10;
        const first = options.durationMs * 0.1;
        const every = (options.durationMs * 0.8) / kills;
        for (let k = 0; k < kills; k++) {
          await until(first + k * every);
          await Promise.all([suite.restart('metering', 'SIGKILL'), suite.restart('audit', 'SIGKILL')]);
          mark(`kill ${k + 1}/${kills}: metering and audit SIGKILLed, restarted and ready`);
        }
        recovered();
        break;
      }
      case 'broker-down': {
        await until(Math.min(options.durationMs * 0.2, 10_000));
        await drillInfra('kafka', 'stop');
        mark('Kafka broker stopped');
        await sleep(outageMs);
        await drillInfra('kafka', 'start');
        mark(`Kafka broker started again (down ${outageMs / 1000} s)`);
        recovered();
        break;
      }
      case 'clickhouse-down': {
        await until(Math.min(options.durationMs * 0.2, 10_000));
        await drillInfra('clickhouse', 'stop');
        mark('ClickHouse stopped');
        await sleep(outageMs);
        await drillInfra('clickhouse', 'start');
        mark(`ClickHouse started again (down ${outageMs / 1000} s)`);
        recovered();
        break;
      }
      case 'ingress-kill': {
        await until(Math.min(options.durationMs * 0.2, 10_000));
        await drillInfra('kafka', 'stop');
        mark('Kafka broker stopped');
        await sleep(outageMs / 2);
        const before = load.ok.size;
        await suite.procs.get('ingress')!.stop('SIGKILL');
        mark(`ingress SIGKILLed (${before} answered 200 so far; spool ${spooledBytes(env.spoolDir)} bytes on disk)`);
        await sleep(outageMs / 2);
        await drillInfra('kafka', 'start');
        mark('Kafka broker started again');
        // Ingress needs the broker at start (it ensures the topics and joins the config listener group).
        await suite.restart('ingress', 'SIGKILL');
        mark('ingress restarted with the same spool directory and ready');
        recovered();
        break;
      }
      case 'poison': {
        await until(options.durationMs * 0.3);
        // A config listener reads from "now" once it has joined its group: wait until every one has.
        const joined = await waitUntil(async () => ((await configListenersJoined(env)) ? true : undefined), 90_000);
        mark(joined ? 'every config listener group is stable' : 'not every config listener group became stable within 90 s');
        poisonBus = new KafkaEventBus({ brokers: suite.kafkaBrokers, topicPrefix: suite.topicPrefix, clientId: 'asc-drill-poison', logger: silentEventBusLogger });
        const topics: EventTopic[] = [TOPIC_GATEWAY_REQUEST_V1, TOPIC_SPEND_BUDGET_V1, TOPIC_ADMIN_CHANGE_V1, TOPIC_CONTROL_CONFIG_V1];
        // Keyed by the load's tenant: the poison sits in the partition its good events go to.
        for (const t of topics) {
          await poisonBus.sendRaw(t, env.tenantId, Buffer.from('\u0000not json {poison'));
          await poisonBus.sendRaw(t, env.tenantId, JSON.stringify({ poison: true, id: 'not-an-event' }));
        }
        poisonedAt = Date.now();
        mark(`2 poison messages written to each of ${topics.length} topics`);
        // Good messages behind the poisons, one per topic that has no steady traffic.
        const spare = await suite.admin.createApiKey(env.tenantId, { appId: (await suite.admin.createApp(env.tenantId, `drill-after-poison`)).id });
        const ask = () =>
          fetch(`${suite.ingressBaseUrl}/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${spare.key}` },
            body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 4 }),
          }).then(async (r) => {
            await r.arrayBuffer();
            drillSeen.add(r.headers.get('x-request-id') ?? ''); // not part of the load's count
            return r.status;
          });
        const servedBefore = await ask();
        await suite.admin.revokeApiKey(env.tenantId, spare.id);
        const revoked = await waitUntil(async () => ((await ask()) === 401 ? true : undefined), 15_000, 250);
        const budget = createEvent(
          EVENT_BUDGET_THRESHOLD,
          { tenantId: env.tenantId, source: 'asc/drill' },
          { tenantId: env.tenantId, scope: 'tenant', scopeId: env.tenantId, period: 'day', periodKey: new Date().toISOString().slice(0, 10), threshold: 0.8, limitUsd: 10, spentUsd: 8 },
        );
        poisonBus.publish(budget);
        await poisonBus.flush({ timeoutMs: 30_000 });
        mark(`after the poisons: a new app (admin change), key revoked (config change: ${servedBefore} then ${revoked ? 401 : 'still served'}), a budget event`);
        poison = {
          injected: topics.length * 2,
          expected: [],
          afterPoison: { requestRows: false, adminChangeAudited: false, budgetEventStored: false, keyRevocationApplied: servedBefore === 200 && revoked === true },
        };
        budgetEventId = budget.id;
        break;
      }
    }
    // The load goes on at least 5 s past the fault (requests served after the recovery count too).
    await until(Math.max(options.durationMs, Date.now() - t0 + 5_000));
  } finally {
    load.stop();
    await running;
  }
  const loadEnd = load.lastAnswerAt || Date.now();
  mark(`load stopped: ${load.sent} sent, ${load.ok.size} answered 200`);

  // Catch-up: every 200 in ClickHouse FINAL and in audit.
  const timeoutMs = options.catchUpTimeoutMs ?? 180_000;
  const caughtUp = await waitUntil(async () => {
    const c = await counts(env);
    for (const id of load.ok) if (!c.final.has(id) || !c.audit.has(id)) return undefined;
    return Date.now();
  }, timeoutMs);
  const catchUpMs = caughtUp === undefined ? null : Math.max(0, caughtUp - loadEnd);
  const recoveryMs = await recovery;
  if (recoveryMs !== null) mark(`everything answered before the fault ended had landed ${recoveryMs} ms after it ended`);
  mark(caughtUp === undefined ? `not caught up within ${timeoutMs / 1000} s` : `every 200 in ClickHouse and audit ${catchUpMs} ms after the last answer`);
  // Redeliveries land after the first copy: counted once the consumers committed everything.
  const lag = await waitUntil(async () => ((await stalledPartitions(env)).stalled.length === 0 ? true : undefined), 60_000);
  if (!lag) mark(`consumers still behind: ${(await stalledPartitions(env).catch(() => ({ stalled: ['?'] }))).stalled.join(', ')}`);
  const c = await counts(env);
  const mine = (m: Map<string, number>) => [...load.ok].map((id) => m.get(id) ?? 0);
  // Rows of requests whose 200 the client never saw (or answered otherwise); earlier drills' rows excluded.
  const extra = (m: Map<string, number>) => [...m.keys()].filter((id) => !load.ok.has(id) && !drillSeen.has(id)).length;
  const result: DrillResult = {
    drill,
    rate: options.rate,
    loadMs: loadEnd - t0,
    sent: load.sent,
    answered200: load.ok.size,
    otherStatus: load.otherStatus,
    noAnswer: load.noAnswer,
    clickhouse: {
      lost: mine(c.final).filter((n) => n === 0).length,
      duplicated: mine(c.final).filter((n) => n > 1).length,
      rawCopies: mine(c.raw).reduce((sum, n) => sum + Math.max(0, n - 1), 0),
      unconfirmed: extra(c.final),
    },
    audit: { lost: mine(c.audit).filter((n) => n === 0).length, duplicated: mine(c.audit).filter((n) => n > 1).length, unconfirmed: extra(c.audit) },
    catchUpMs,
    recoveryMs,
    timeline,
  };
  for (const id of [...c.final.keys(), ...c.audit.keys()]) drillSeen.add(id);

  if (drill === 'poison' && poison) {
    const bus = poisonBus!;
    try {
      const groups = (await stalledPartitions(env)).groups;
      const expected = [
        ...[suite.env.metering.METERING_CONSUMER_GROUP, suite.env.audit.AUDIT_CONSUMER_GROUP].map((g) => `${TOPIC_GATEWAY_REQUEST_V1} ${g}`),
        `${TOPIC_SPEND_BUDGET_V1} ${suite.env.metering.METERING_CONSUMER_GROUP}`,
        `${TOPIC_ADMIN_CHANGE_V1} ${suite.env.audit.AUDIT_CONSUMER_GROUP}`,
        ...['ingress', 'policy', 'routing', 'secrets'].map((svc) => `${TOPIC_CONTROL_CONFIG_V1} asc-cache-${svc}-*`),
      ];
      const letters = await bus.readDeadLetters({ timeoutMs: 30_000 });
      const found = (want: string) => {
        const [topic, group] = want.split(' ');
        const match = (g: string) => (group.endsWith('*') ? g.startsWith(group.slice(0, -1)) : g === group);
        return letters.filter((l) => (l.topic === topic || l.topic === `${suite.topicPrefix}${topic}`) && match(l.groupId) && l.deadLetteredAtMs >= poisonedAt - 60_000).length >= 2;
      };
      const missing = expected.filter((e) => !found(e));
      const stalled = (await stalledPartitions(env)).stalled;
      const pg = new Client({ connectionString: suite.databaseUrl });
      await pg.connect();
      let adminChangeAudited = false;
      try {
        const r = await pg.query(`SELECT 1 FROM audit.records WHERE event_type = 'asc.admin.change.recorded' AND occurred_at > to_timestamp($1 / 1000.0) LIMIT 1`, [poisonedAt]);
        adminChangeAudited = (r.rowCount ?? 0) > 0;
      } finally {
        await pg.end();
      }
      const budget = await fetch(suite.clickhouseUrl, {
        method: 'POST',
        body: `SELECT count() AS n FROM ${suite.clickhouseDatabase}.budget_events FINAL WHERE event_id = '${budgetEventId}' FORMAT JSONEachRow`,
      }).then((r) => r.text());
      const requestRows = [...load.ok].length > 0 && result.clickhouse.lost === 0;
      result.poison = {
        injected: poison.injected,
        expected,
        missing,
        deadLetters: letters.length,
        stalledPartitions: stalled.length,
        afterPoison: { ...poison.afterPoison, requestRows, adminChangeAudited, budgetEventStored: budget.includes('"1"') || budget.includes(':1') },
      };
      mark(`dead letters ${letters.length} (${missing.length ? `missing: ${missing.join('; ')}` : 'every topic × group'}); ${stalled.length} partitions stalled over ${groups.length} groups`);
    } finally {
      await bus.close();
    }
  }
  return result;
}

/** One row of the docs/reliability.md table. */
export function tableRow(r: DrillResult, command: string): string {
  const lost = `${r.clickhouse.lost} ClickHouse / ${r.audit.lost} audit`;
  const dup = `${r.clickhouse.duplicated} FINAL (${r.clickhouse.rawCopies} raw copies) / ${r.audit.duplicated} audit`;
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const catchUp =
    r.catchUpMs === null
      ? 'not within the timeout'
      : `${r.recoveryMs === null ? '' : `${secs(r.recoveryMs)} after the fault ended; `}${secs(r.catchUpMs)} after the last answer`;
  const load = `${r.rate} req/s × ${(r.loadMs / 1000).toFixed(0)} s: ${r.answered200} answered 200`;
  return `| ${r.drill} | ${lost} | ${dup} | ${catchUp} | ${load} | \`${command}\` |`;
}

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const which = arg('drill', 'all')!;
  const drills: DrillName[] = which === 'all' ? [...DRILLS] : (which.split(',') as DrillName[]);
  for (const d of drills) if (!DRILLS.includes(d)) throw new Error(`unknown drill '${d}' (one of ${DRILLS.join(', ')}, or all)`);
  const options: DrillOptions = {
    rate: Number(arg('rate', '100')),
    durationMs: Number(arg('duration', '60')) * 1000,
    outageMs: Number(arg('outage', '60')) * 1000,
    kills: Number(arg('kills', '10')),
    catchUpTimeoutMs: Number(arg('catch-up-timeout', '600')) * 1000,
    log: (line) => console.error(line),
  };
  const command = `node -r ./tools/scripts/register-paths.js dist/tools/drills/src/fault-drills.js ${process.argv.slice(2).join(' ')}`.trim();
  const env = await startDrillEnvironment((l) => console.error(l));
  let failed = false;
  try {
    for (const d of drills) {
      const r = await runDrill(env, d, options);
      if (process.argv.includes('--json')) console.log(JSON.stringify(r));
      console.log(tableRow(r, command.replace(`--drill ${which}`, `--drill ${d}`)));
      const bad = r.clickhouse.lost + r.clickhouse.duplicated + r.audit.lost + r.audit.duplicated + (r.poison ? r.poison.missing.length + r.poison.stalledPartitions : 0);
      if (bad > 0 || r.catchUpMs === null) {
        failed = true;
        console.error(`[${d}] FAILED: ${JSON.stringify(r)}`);
      }
    }
  } finally {
    await env.close();
  }
  if (failed) process.exit(1);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
