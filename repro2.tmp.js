const { startSimulatorProcess, embedded } = require('./dist/tools/bench/src/targets.js');
const { LoadGenerator } = require('./dist/tools/bench/src/load.js');
(async () => {
  const sim = await startSimulatorProcess();
  const gw = await embedded(sim.url, '2000');
  try {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }], max_tokens: 64 });
    const gen = new LoadGenerator({ url: gw.url, key: gw.key, body }, 64);
    for (let i = 0; i < 12; i++) {
      const r = await gen.closedLoop(32, 5000);
      console.log(new Date().toISOString(), i, Math.round(r.rps), 'errors', r.errors, gen.firstError ?? '');
      if (r.errors) break;
    }
    await gen.close();
  } finally { await gw.stop(); await sim.proc.stop(); }
})();
