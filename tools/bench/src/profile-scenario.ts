// ASC under load with the V8 CPU profiler (the one behind `node --cpu-prof`): the embedded
// suite's process, or in production mode the ingress process; the load comes from this (another)
// process. The profiler runs only while the load does: the process is started with
// cpu-profiler.preload.js and signalled before and after (SIGUSR2).
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LoadGenerator } from './load';
import { CpuProfile, formatSummary, summarizeProfile } from './profile-summary';
import { body } from './peer-scenario';
import { BENCH_BODY, SimulatorProcess, embedded, production } from './targets';

export interface ProfileOptions {
  cacheTtl: string;
  durationMs: number;
  connections: number;
  /** Where the .cpuprofile goes; default a new temporary directory. */
  dir?: string;
  /** embedded: the one process; production: the ingress process of the six. */
  mode: 'embedded' | 'production';
  /** The governed tenant's key (limits + budget + cache + guardrails) with a prompt unique to each request, as the peer run's governed contender. */
  governed?: boolean;
}


async function waitForFile(file: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`no profile written to ${file} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The write is one synchronous writeFileSync; give it a moment to finish before reading.
  await new Promise((r) => setTimeout(r, 500));
}

export async function profile(sim: SimulatorProcess, options: ProfileOptions): Promise<string[]> {
  const dir = options.dir ? resolve(options.dir) : mkdtempSync(join(tmpdir(), 'asc-profile-'));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `asc-${options.mode}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
  const profiler = { NODE_OPTIONS: `--require ${join(__dirname, 'cpu-profiler.preload.js')}`, ASC_CPU_PROFILE_FILE: file };
  const gw = options.mode === 'production' ? await production(sim.url, options.cacheTtl, profiler) : await embedded(sim.url, options.cacheTtl, profiler);
  let rps = 0;
  try {
    if (!gw.pid) throw new Error(`the ${options.mode} gateway has no pid to profile`);
    if (options.governed && !gw.governedKey) throw new Error(`the ${options.mode} gateway has no governed tenant`);
    const target = options.governed ? { url: gw.url, key: gw.governedKey ?? '', body: body(false, true), unique: true } : { url: gw.url, key: gw.key, body: BENCH_BODY };
    const gen = new LoadGenerator(target, 64);
    try {
      await gen.closedLoop(8, 3000); // warm-up, not profiled
      process.kill(gw.pid, 'SIGUSR2');
      console.error(`  profiling: ${options.connections} connections for ${options.durationMs / 1000} s`);
      const r = await gen.closedLoop(options.connections, options.durationMs);
      process.kill(gw.pid, 'SIGUSR2');
      rps = r.rps;
      if (r.errors) console.error(`  ${r.errors} errors under load`);
    } finally {
      await gen.close();
    }
    await waitForFile(file, 30_000);
  } finally {
    await gw.stop();
  }
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  return [
    `ASC ${options.mode}${options.mode === 'production' ? ' (ingress process)' : ''}${options.governed ? ', every control on (limits + budget + cache + guardrails)' : ''}, ${options.connections} connections closed loop, ${(options.durationMs / 1000).toFixed(0)} s, ${rps.toFixed(0)} req/s while profiled (main thread).`,
    '',
    ...formatSummary(summary, file),
    '',
    `Rerun the summary: node dist/tools/bench/src/profile-summary.js ${file}`,
  ];
}
