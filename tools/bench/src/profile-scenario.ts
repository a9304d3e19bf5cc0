// ASC embedded under load with `node --cpu-prof`; the load comes from this (another) process.
// The profile covers the whole life of the gateway process; only the samples taken while the
// load ran are summarised (CLOCK_MONOTONIC is shared by both processes: V8's profile
// timestamps and process.hrtime read the same clock on Linux).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LoadGenerator } from './load';
import { CpuProfile, formatSummary, summarizeProfile } from './profile-summary';
import { PASSTHROUGH_MODEL, SimulatorProcess, embedded } from './targets';

export interface ProfileOptions {
  cacheTtl: string;
  durationMs: number;
  connections: number;
  /** Where the .cpuprofile files go; default a new temporary directory. */
  dir?: string;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

const BODY = JSON.stringify({
  model: PASSTHROUGH_MODEL,
  messages: [
    { role: 'system', content: 'You are a helpful support assistant.' },
    { role: 'user', content: 'Where is my order #12345? It was supposed to arrive yesterday.' },
  ],
  max_tokens: 64,
});

export async function profile(sim: SimulatorProcess, options: ProfileOptions): Promise<string[]> {
  const dir = options.dir ? resolve(options.dir) : mkdtempSync(join(tmpdir(), 'asc-profile-'));
  mkdirSync(dir, { recursive: true });
  const before = new Set(readdirSync(dir));
  const gw = await embedded(sim.url, options.cacheTtl, { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` });
  let window: { fromUs: number; toUs: number };
  let rps = 0;
  try {
    const gen = new LoadGenerator({ url: gw.url, key: gw.key, body: BODY }, 64);
    try {
      await gen.closedLoop(8, 3000); // warm-up, not in the window
      const fromUs = nowUs();
      console.error(`  profiling: ${options.connections} connections for ${options.durationMs / 1000} s`);
      const r = await gen.closedLoop(options.connections, options.durationMs);
      window = { fromUs, toUs: nowUs() };
      rps = r.rps;
      if (r.errors) console.error(`  ${r.errors} errors under load`);
    } finally {
      await gen.close();
    }
  } finally {
    await gw.stop(); // SIGTERM: the suite closes and exits, and V8 writes the profile
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread, others are workers (PGlite).
  const thread = (f: string) => Number(f.split('.')[4]);
  const main = files.find((f) => thread(f) === 0);
  if (!main) throw new Error(`no main-thread profile in ${dir} (found: ${files.join(', ') || 'none'})`);
  const out = [`ASC embedded, ${options.connections} connections closed loop, ${(options.durationMs / 1000).toFixed(0)} s, ${rps.toFixed(0)} req/s while profiled. Profiles in ${dir}.`, ''];
  const summarize = (f: string) => summarizeProfile(JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile, window);
  out.push(...formatSummary(summarize(main), `main thread (${main})`));
  for (const f of files.filter((x) => x !== main)) {
    const s = summarize(f);
    out.push('', `worker thread ${thread(f)} (${f}): busy ${s.busyMs.toFixed(0)} ms of ${s.wallMs.toFixed(0)} ms; heaviest areas: ${s.areas.slice(0, 3).map((a) => `${a.area} ${a.selfMs.toFixed(0)} ms`).join(', ')}`);
  }
  out.push('', `Rerun the summary: node dist/tools/bench/src/profile-summary.js ${join(dir, main)} --from-us ${window.fromUs} --to-us ${window.toUs}`);
  return out;
}
