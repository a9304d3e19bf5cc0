require('/work/main/tools/scripts/register-paths.js');
const { encodeJsonEachRow } = require('@asc/analytics');
const { event } = require('/work/main/dist/libs/analytics/src/testing/analytics-store.contract.js');
const rows = Array.from({ length: 10000 }, (_, i) => ({ ...event({ event_id: 'e' + i, occurred_at_ms: 1710000000000 + i }), stream: 0, inserted_at_ms: 1 }));
for (let k = 0; k < 5; k++) { let t = performance.now(); const b = encodeJsonEachRow(rows); const e1 = performance.now() - t; t = performance.now(); const j = rows.map(r => JSON.stringify(r)).join('\n'); console.log('encode', e1.toFixed(1), 'stringify', (performance.now() - t).toFixed(1), b.length, j.length); }
