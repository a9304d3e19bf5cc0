import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createEvent, EVENT_GATEWAY_REQUEST_COMPLETED, KafkaEventBus, silentEventBusLogger, type RequestCompletedV1 } from '@asc/events';
import { freePort } from '@asc/service-kit';
import { eventually, infra, missingInfra, startNodeProcess, testPki, throwawayDatabase, waitForReady, type NodeProcess, type ThrowawayDatabase } from '@asc/testing';
import { Client } from 'pg';

/**
 * Scale-out drill (docs/reliability.md, "Scale-out"): two metering and two audit processes in
 * one consumer group each, under steady load; one of each is SIGTERMed and a new one started
 * while events keep coming. Every event must land exactly once in ClickHouse and in Postgres.
 */

const EVENTS = 2_400;
const RATE_PER_S = 200;
const TERMINATE_AT = 800;
const ADD_AT = 1_400;

function payload(tenantId: string, seq: number): RequestCompletedV1 {
  return {
    requestId: `${tenantId}:${seq}`, tenantId, appId: 'app_drill', keyId: 'key_drill', api: 'openai.chat.completions', stream: false,
    requestedModel: 'gpt-4o-mini', servedModel: 'gpt-4o-mini', provider: 'openai', deploymentId: 'dep_drill', region: 'eu-west-1',
    credentialId: 'cred_drill', credentialVersion: 1, policyId: 'pol_drill', policyVersion: 1, decision: 'allow', reasonCode: '',
    status: 'ok', httpStatus: 200, inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0, usageEstimated: false,
    costUsd: 0.00001, latencyMs: 12, ttftMs: 0, startedAtMs: Date.now(),
  } as RequestCompletedV1;
}

describe('consumer groups rebalance without loss or duplicates', async () => {
  const skip = await missingInfra('postgres', 'kafka', 'clickhouse');
  describe('two metering + two audit consumers, one of each SIGTERMed and one added under load', { skip }, () => {
    const run = randomBytes(4).toString('hex');
    const prefix = `drill-${run}.`;
    const chDatabase = `asc_drill_${run}`;
    let db: ThrowawayDatabase;
    const procs: NodeProcess[] = [];
    const common = () => ({ ASC_ADMIN_TOKEN: `adm_${run}`, KAFKA_BROKERS: infra.kafkaBrokers.join(','), KAFKA_TOPIC_PREFIX: prefix });

    // Every audit replica signs checkpoints with the deployment's one key.
    const signingKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const start = async (service: 'metering' | 'audit') => {
      const range = { from: 20_000, to: 32_000 };
      const [http, grpc] = [await freePort('127.0.0.1', range), await freePort('127.0.0.1', range)];
      const env: Record<string, string> =
        service === 'metering'
          ? { METERING_HTTP_PORT: `${http}`, METERING_GRPC_URL: `127.0.0.1:${grpc}`, CLICKHOUSE_URL: infra.clickhouseUrl, CLICKHOUSE_DATABASE: chDatabase, METERING_CONSUMER_GROUP: `metering-${run}` }
          : { AUDIT_HTTP_PORT: `${http}`, AUDIT_GRPC_URL: `127.0.0.1:${grpc}`, AUDIT_DATABASE_URL: db.url, AUDIT_CONSUMER_GROUP: `audit-${run}`, AUDIT_SIGNING_KEY: signingKey };
      const proc = startNodeProcess(`apps/${service}/src/main.js`, { ...common(), ...testPki().env(service), ...env });
      procs.push(proc);
      await waitForReady(`http://127.0.0.1:${http}/readyz`, 90_000, proc);
      return proc;
    };

    before(async () => {
      db = await throwawayDatabase('asc_drill');
    });
    after(async () => {
      await Promise.all(procs.map((p) => p.stop()));
      await fetch(infra.clickhouseUrl, { method: 'POST', body: `DROP DATABASE IF EXISTS ${chDatabase}` }).catch(() => undefined);
      await db?.drop();
    });

    it(`${EVENTS} events at ${RATE_PER_S}/s: ClickHouse and Postgres hold each exactly once`, async () => {
      // Audit first: it creates the schema the second audit would otherwise race for.
      const audit1 = await start('audit');
      const metering1 = await start('metering');
      await Promise.all([start('audit'), start('metering')]);

      const bus = new KafkaEventBus({ brokers: infra.kafkaBrokers, topicPrefix: prefix, clientId: `drill-${run}`, logger: silentEventBusLogger, publisher: { lingerMs: 20 } });
      const t0 = Date.now();
      let terminatedAt = 0;
      let added: Promise<unknown> = Promise.resolve();
      try {
        for (let seq = 0; seq < EVENTS; seq++) {
          // 20 tenants: events spread over every partition, so every member owns some.
          const tenantId = `tenant_${seq % 20}`;
          bus.publish(createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId, source: 'asc/drill' }, payload(tenantId, seq)));
          if (seq === TERMINATE_AT) {
            terminatedAt = Date.now();
            void metering1.stop('SIGTERM');
            void audit1.stop('SIGTERM');
          }
          if (seq === ADD_AT) added = Promise.all([start('metering'), start('audit')]);
          const due = t0 + ((seq + 1) * 1000) / RATE_PER_S;
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        }
        await bus.flush({ timeoutMs: 30_000 });
      } finally {
        await bus.close();
      }
      await added;
      const produced = Date.now();

      const clickhouse = async () => {
        const res = await fetch(infra.clickhouseUrl, { method: 'POST', body: `SELECT count() AS rows, uniqExact(event_id) AS ids FROM ${chDatabase}.requests FORMAT JSONEachRow` });
        const row = JSON.parse((await res.text()).trim() || '{"rows":"0","ids":"0"}') as { rows: string; ids: string };
        return { rows: Number(row.rows), ids: Number(row.ids) };
      };
      const postgres = async () => {
        const client = new Client({ connectionString: db.url });
        await client.connect();
        try {
          const r = await client.query<{ rows: string; ids: string }>(`SELECT count(*) AS rows, count(DISTINCT event_id) AS ids FROM audit.records`);
          return { rows: Number(r.rows[0].rows), ids: Number(r.rows[0].ids) };
        } finally {
          await client.end();
        }
      };
      await eventually(async () => assert.equal((await clickhouse()).ids, EVENTS), 90_000, 500);
      await eventually(async () => assert.equal((await postgres()).ids, EVENTS), 90_000, 500);
      const settled = Date.now();
      const [ch, pg] = [await clickhouse(), await postgres()];
      console.log(
        `[drill] consumer rebalance: ${EVENTS} events at ${RATE_PER_S}/s; SIGTERM at ${terminatedAt - t0} ms; all landed ${settled - produced} ms after the last publish; ` +
          `ClickHouse rows ${ch.rows} (distinct ${ch.ids}), Postgres rows ${pg.rows} (distinct ${pg.ids})`,
      );
      assert.deepEqual(ch, { rows: EVENTS, ids: EVENTS }, 'ClickHouse: no loss, no duplicate row');
      assert.deepEqual(pg, { rows: EVENTS, ids: EVENTS }, 'Postgres: no loss, no duplicate row');
    });
  });
});
