import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres';

describe('embedded Postgres (PGlite over its socket server)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'asc-pglite-'));
  let pg: EmbeddedPostgres;
  before(async () => {
    pg = await startEmbeddedPostgres({ dataDir: dir });
  });
  after(async () => {
    await pg?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps concurrent clients apart: each parameterized query gets its own statement, parameters and rows', async () => {
    // Several services share the one PGlite session through the socket server. A Parse of one
    // client between another's Parse and Bind made that client run the wrong statement.
    const clients = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const c = new Client({ connectionString: pg.url });
        await c.connect();
        return c;
      }),
    );
    try {
      const wrong: string[] = [];
      // One client holds a transaction open (as the audit writer does) while the others send
      // their queries: they queue up, and when it commits they all run at once.
      const holder = clients[0];
      await holder.query('BEGIN');
      const released = new Promise((r) => setTimeout(r, 200)).then(() => holder.query('COMMIT'));
      await Promise.all(
        clients.slice(1).map(async (c, k) => {
          for (let i = 0; i < 150; i++) {
            // A different statement text per client, and a different number of parameters.
            const params = Array.from({ length: k + 1 }, (_, j) => i * 10 + j);
            const sql = `SELECT ${k} AS client, ${params.map((_, j) => `$${j + 1}::int`).join(' + ')} AS total`;
            const res = await c.query<{ client: number; total: number }>(sql, params);
            const expected = params.reduce((a, b) => a + b, 0);
            if (res.rows.length !== 1 || Number(res.rows[0].client) !== k || Number(res.rows[0].total) !== expected) {
              wrong.push(`client ${k}, query ${i}: ${JSON.stringify(res.rows)}`);
            }
          }
        }),
      );
      await released;
      assert.deepEqual(wrong.slice(0, 5), []);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});
