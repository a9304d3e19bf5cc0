require('/work/main/tools/scripts/register-paths.js');
const { ChdbStore, migrate, encodeJsonEachRow, insertRequestsIdempotent } = require('@asc/analytics');
const { event } = require('/work/main/dist/libs/analytics/src/testing/analytics-store.contract.js');
const fs = require('fs');
(async () => {
  fs.rmSync('/tmp/perfchdb', { recursive: true, force: true });
  const s = new ChdbStore({ path: '/tmp/perfchdb' });
  await migrate(s, 'asc');
  const rows = Array.from({ length: 10000 }, (_, i) => ({ ...event({ event_id: 'e' + i, occurred_at_ms: 1710000000000 + i }), stream: 0, inserted_at_ms: 1 }));
  let t = performance.now(); const body = encodeJsonEachRow(rows); console.log('encode', (performance.now() - t).toFixed(1), 'ms', body.length, 'bytes');
  t = performance.now(); JSON.stringify(rows); console.log('JSON.stringify baseline', (performance.now() - t).toFixed(1));
  for (let k = 0; k < 3; k++) { t = performance.now(); await s.insert('asc.requests', rows); console.log('insert', (performance.now() - t).toFixed(1)); }
  const rows2 = Array.from({ length: 10000 }, (_, i) => event({ event_id: 'x' + i, occurred_at_ms: 1710000000000 + i }));
  t = performance.now(); await insertRequestsIdempotent(s, 'asc', rows2); console.log('idem new', (performance.now() - t).toFixed(1));
  t = performance.now(); await insertRequestsIdempotent(s, 'asc', rows2); console.log('idem dup', (performance.now() - t).toFixed(1));
  await s.close();
})();
