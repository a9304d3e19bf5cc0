import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { missingInfra } from '@asc/testing';
import { runDrill, startDrillEnvironment, type DrillEnvironment, type DrillResult } from './fault-drills';

/**
 * The fault drills of issue 12 in their short variants (docs/reliability.md, "Drills"): a
 * production-mode ASC against its own second Kafka broker and ClickHouse server (started here
 * with tools/infra/kafka.sh drill and clickhouse.sh drill, stopped at the end), under a steady
 * load of real requests. Each drill ends with every request answered 200 exactly once in
 * ClickHouse (`requests FINAL`, and no extra raw row) and once in the audit trail. The long
 * variants (60 s broker outage, 5 min ClickHouse outage) run as `tools/drills/fault-drills.sh`. The
 * broker outage alone is not repeated here: the ingress-kill drill stops the broker too, and every
 * request answered while it was down must land.
 */

const RATE = 30;

function report(r: DrillResult): void {
  console.log(
    `[drill] ${r.drill}: ${r.rate} req/s for ${(r.loadMs / 1000).toFixed(1)} s, ${r.answered200} answered 200 (${r.noAnswer} unanswered, other ${JSON.stringify(r.otherStatus)}); ` +
      `ClickHouse lost ${r.clickhouse.lost}, duplicated ${r.clickhouse.duplicated}, raw copies ${r.clickhouse.rawCopies}; audit lost ${r.audit.lost}, duplicated ${r.audit.duplicated}; ` +
      `caught up ${r.catchUpMs} ms after the last answer (${r.recoveryMs ?? '-'} ms after the fault ended)\n  ${r.timeline.join('\n  ')}`,
  );
}

function assertExactlyOnce(r: DrillResult): void {
  report(r);
  assert.ok(r.answered200 > RATE * 5, `the load was served (${r.answered200} answered 200)`);
  assert.notEqual(r.catchUpMs, null, 'every answered request reached ClickHouse and audit');
  assert.deepEqual(
    { clickhouseLost: r.clickhouse.lost, clickhouseDuplicated: r.clickhouse.duplicated, rawCopies: r.clickhouse.rawCopies, auditLost: r.audit.lost, auditDuplicated: r.audit.duplicated },
    { clickhouseLost: 0, clickhouseDuplicated: 0, rawCopies: 0, auditLost: 0, auditDuplicated: 0 },
  );
}

describe('fault drills: 0 lost, 0 duplicated', async () => {
  const skip = await missingInfra('postgres', 'kafka', 'clickhouse');
  describe('short variants, production mode, a Kafka broker and ClickHouse of their own', { skip }, () => {
    let env: DrillEnvironment;
    before(async () => {
      env = await startDrillEnvironment((line) => console.log(`[drill] ${line}`));
    });
    after(async () => {
      await env?.close();
    });

    it('a poison message in each consumed topic is dead-lettered by every consumer group; no partition stalls', async () => {
      const r = await runDrill(env, 'poison', { rate: RATE, durationMs: 10_000 });
      assertExactlyOnce(r);
      assert.ok(r.poison, 'poison results');
      assert.deepEqual(r.poison.missing, [], 'each topic × consumer group dead-lettered both poisons');
      assert.equal(r.poison.stalledPartitions, 0);
      assert.deepEqual(r.poison.afterPoison, { requestRows: true, adminChangeAudited: true, budgetEventStored: true, keyRevocationApplied: true });
    });

    it('ingress SIGKILLed while the broker is down: the spool is replayed at restart', async () => {
      const r = await runDrill(env, 'ingress-kill', { rate: RATE, durationMs: 12_000, outageMs: 8_000, catchUpTimeoutMs: 120_000 });
      assertExactlyOnce(r);
      assert.ok(r.noAnswer > 0, 'ingress was down for a while');
    });

    it('ClickHouse stopped for 10 s under load', async () => {
      assertExactlyOnce(await runDrill(env, 'clickhouse-down', { rate: RATE, durationMs: 15_000, outageMs: 10_000, catchUpTimeoutMs: 120_000 }));
    });

    it('metering and audit SIGKILLed and restarted 10 times under load', async () => {
      assertExactlyOnce(await runDrill(env, 'consumers-kill', { rate: RATE, durationMs: 25_000, kills: 10, catchUpTimeoutMs: 150_000 }));
    });
  });
});
