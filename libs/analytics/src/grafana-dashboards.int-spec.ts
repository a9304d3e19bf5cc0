import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { infra, missingInfra, repoRoot } from '@asc/testing';
import type { AnalyticsStore } from './analytics-store.port';
import { ChdbStore } from './chdb.adapter';
import { ClickHouseHttpStore } from './clickhouse-http.adapter';
import { insertRequestsIdempotent } from './requests.queries';
import { migrate } from './schema';
import { sqlString } from './sql-literal';
import { event } from './testing/analytics-store.contract';

interface Dashboard {
  title: string;
  panels: Array<{ title: string; targets: Array<{ rawSql: string }> }>;
  templating: { list: Array<{ name: string; type: string; query: string }> };
}

const DIR = join(repoRoot, 'deploy', 'grafana', 'dashboards');
const NOW = Date.now();
const HOUR = 3_600_000;

function dashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Dashboard }));
}

/** What Grafana substitutes before the query reaches ClickHouse (global time range and dashboard variables). */
function render(sql: string, database: string): string {
  return sql
    .replaceAll('${db}', database)
    .replaceAll('${__from}', String(NOW - 24 * HOUR))
    .replaceAll('${__to}', String(NOW + HOUR))
    .replaceAll("'${tenant}'", sqlString('dash-tenant'))
    .replaceAll("'${provider}'", sqlString('openai'));
}

async function checkAll(store: AnalyticsStore, database: string): Promise<void> {
  await migrate(store, database);
  await insertRequestsIdempotent(
    store,
    database,
    Array.from({ length: 12 }, (_, i) =>
      event({
        event_id: `dash-${i}`,
        request_id: `dash-r${i}`,
        tenant_id: 'dash-tenant',
        occurred_at_ms: NOW - (i % 3) * HOUR,
        started_at_ms: NOW - (i % 3) * HOUR - 500,
        stream: i % 2 === 0,
        ttft_ms: i % 2 === 0 ? 100 + i : 0,
        status: i === 5 ? 'upstream_error' : 'ok',
        reason_code: i === 5 ? 'upstream_timeout' : '',
      }),
    ),
  );
  const found = dashboards();
  assert.deepEqual(found.map((d) => d.file).sort(), ['platform-overview.json', 'provider.json', 'tenant.json']);
  for (const { file, dashboard } of found) {
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      const rows = await store.query(render(variable.query, database));
      assert.ok(rows.length > 0, `${file}: variable ${variable.name} lists values`);
    }
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const rows = await store.query<Record<string, unknown>>(render(target.rawSql, database)).catch((err: unknown) => {
          throw new Error(`${file} / ${panel.title}: ${err instanceof Error ? err.message : String(err)}`);
        });
        assert.ok(rows.length > 0, `${file} / ${panel.title}: returns rows for data in range`);
      }
    }
  }
}

/** Every query of every provisioned Grafana dashboard, run against both engines, so a dashboard cannot silently break. */
describe('Grafana dashboards (deploy/grafana) against ClickHouse', async () => {
  const skip = await missingInfra('clickhouse');

  it('every panel and variable query runs on the ClickHouse server and returns data', { skip, timeout: 120_000 }, async () => {
    const store = new ClickHouseHttpStore({ url: infra.clickhouseUrl });
    const database = `asc_dash_${randomBytes(4).toString('hex')}`;
    try {
      await checkAll(store, database);
    } finally {
      await store.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
      await store.close();
    }
  });

  it('and on the embedded engine (chdb)', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asc-dash-'));
    const store = new ChdbStore({ path: dir });
    try {
      await checkAll(store, 'asc');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
