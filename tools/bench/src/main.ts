// Gateway benchmarks. Each component runs in its own process; load comes from this one.
//
//   npm run bench -- [--scenario overhead|translation|peer|profile|noisy] [--mode embedded|production|both]
//                    [--duration 10] [--cache-ttl-ms 2000] [--ttft-ms 50] [--rounds 5] [--warmup 1.5] [--connections 32]
//                    profile: [--governed] [--profile-dir d]
//                    noisy: [--max-in-flight 16] [--latency-ms 100] [--quiet-rate 30] [--factor 20] [--profile-dir d]
//
// overhead (default): the same OpenAI chat request sent straight to the provider simulator and
// through ASC (every governance step on: key check, policy, routing, secrets lease, event
// emission), at 1 and 32 connections, plus the highest request rate whose p99 stays under 20 ms.
// translation: an OpenAI client calling a model served by an OpenAI deployment (passthrough)
// and one served by an Anthropic deployment (translated), each also sent straight to the
// simulator in the upstream's own API; non-streamed latency with a zero-latency simulator,
// then time to first token of streams with the simulator holding the first token --ttft-ms.
// noisy: a quiet tenant's latency alone and next to a tenant offering 20× its fair share of
// the ingress in-flight cap (load shedding, issue 7); see noisy-scenario.ts.
//
// production mode needs PostgreSQL, Kafka, ClickHouse and Redis (tools/infra/up.sh); its rate
// limits, budgets and response cache are in that Redis, under a key prefix of the run's own.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { ANTHROPIC_API_VERSION, WIRE_CODECS } from '@asc/providers';
import { LatencyStats, LoadGenerator, LoadResult, Target } from './load';
import { PeerGateway, peer } from './peer-scenario';
import { noisy } from './noisy-scenario';
import { profile } from './profile-scenario';
import { BENCH_BODY, BenchTarget, PASSTHROUGH_MODEL, SimulatorProcess, TRANSLATED_MODEL, openAIBody, TRANSLATED_UPSTREAM_MODEL, bareProxy, embedded, portkey, production, startSimulatorProcess } from './targets';

interface Measurement extends LoadResult {
  label: string;
  connections: number;
}

const BODY = BENCH_BODY;

async function measure(label: string, target: Target, durationMs: number): Promise<Measurement[]> {
  const gen = new LoadGenerator(target, 64);
  try {
    await gen.closedLoop(8, 2000); // warm-up: JIT, connection pools, caches
    const out: Measurement[] = [];
    for (const c of [1, 32]) out.push({ label, connections: c, ...(await gen.closedLoop(c, durationMs)) });
    return out;
  } finally {
    await gen.close();
  }
}

/** Highest rate (uniform arrivals, steps of 200/s) at which p99 < 20 ms with no errors. */
async function maxRateUnder20ms(url: string, key: string, durationMs: number): Promise<{ rate: number; p99: number }> {
  const gen = new LoadGenerator({ url, key, body: BODY }, 256);
  let best = { rate: 0, p99: 0 };
  try {
    await gen.closedLoop(8, 2000);
    for (let rate = 200; rate <= 6000; rate += 200) {
      const m = await gen.openLoop(rate, Math.min(durationMs, 5000));
      console.error(`  ${url}: ${rate}/s offered, ${m.rps.toFixed(0)}/s done, p99 ${m.p99.toFixed(2)} ms, errors ${m.errors}`);
      if (m.p99 >= 20 || m.errors > 0) break;
      best = { rate, p99: m.p99 };
    }
    return best;
  } finally {
    await gen.close();
  }
}

const ms = (v: number) => v.toFixed(2);

function startGateway(mode: string, sim: SimulatorProcess, cacheTtl: string): Promise<BenchTarget> {
  return mode === 'embedded' ? embedded(sim.url, cacheTtl) : production(sim.url, cacheTtl);
}

async function overhead(sim: SimulatorProcess, modes: string[], duration: number, cacheTtl: string): Promise<string[]> {
  const out: string[] = [];
  const rows: Measurement[] = [];
  const sweeps: Array<{ label: string; rate: number; p99: number }> = [];
  const directUrl = `${sim.url}/v1/chat/completions`;
  rows.push(...(await measure('simulator direct', { url: directUrl, key: 'sk-direct', body: BODY }, duration)));
  sweeps.push({ label: 'simulator direct', ...(await maxRateUnder20ms(directUrl, 'sk-direct', duration)) });
  for (const mode of modes) {
    const gw = await startGateway(mode, sim, cacheTtl);
    try {
      rows.push(...(await measure(`ASC ${mode}`, { url: gw.url, key: gw.key, body: BODY }, duration)));
      sweeps.push({ label: `ASC ${mode}`, ...(await maxRateUnder20ms(gw.url, gw.key, duration)) });
    } finally {
      await gw.stop();
    }
  }
  const base = new Map(rows.filter((r) => r.label === 'simulator direct').map((r) => [r.connections, r]));
  out.push('| target | connections | req/s | mean ms | p50 ms | p90 ms | p99 ms | added mean ms | added p99 ms | errors |');
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const b = base.get(r.connections);
    const added = (v: number, bv?: number) => (r.label === 'simulator direct' || bv === undefined ? '—' : ms(v - bv));
    out.push(`| ${r.label} | ${r.connections} | ${r.rps.toFixed(0)} | ${ms(r.mean)} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)} | ${added(r.mean, b?.mean)} | ${added(r.p99, b?.p99)} | ${r.errors} |`);
  }
  out.push('\n| target | highest rate with p99 < 20 ms (uniform arrivals, steps of 200/s) | p99 there |');
  out.push('|---|---|---|');
  for (const s of sweeps) out.push(`| ${s.label} | ${s.rate} req/s | ${ms(s.p99)} ms |`);
  return out;
}

type Path = 'passthrough' | 'translated';
const PATHS: Path[] = ['passthrough', 'translated'];

interface PathMeasurement extends Measurement {
  path: Path;
  stream: boolean;
}

/** The request straight to the simulator: what ingress sends upstream for this path. */
function directTarget(sim: SimulatorProcess, path: Path, stream: boolean): Target {
  const body = openAIBody(PASSTHROUGH_MODEL, stream);
  if (path === 'passthrough') return { url: `${sim.url}/openai/v1/chat/completions`, key: 'sk-direct', body: JSON.stringify(body), stream: stream ? 'openai' : undefined };
  // Translated with the same codecs ingress uses, so the simulator does the same work either way.
  const anthropic = WIRE_CODECS.anthropic.encodeRequest({ ...WIRE_CODECS.openai.decodeRequest(body), stream }, TRANSLATED_UPSTREAM_MODEL);
  return {
    url: `${sim.url}/anthropic/v1/messages`,
    key: 'sk-ant-direct',
    headers: { 'anthropic-version': ANTHROPIC_API_VERSION },
    body: JSON.stringify(anthropic),
    stream: stream ? 'anthropic' : undefined,
  };
}

function gatewayTarget(gw: BenchTarget, path: Path, stream: boolean): Target {
  const model = path === 'passthrough' ? PASSTHROUGH_MODEL : TRANSLATED_MODEL;
  return { url: gw.url, key: gw.key, body: JSON.stringify(openAIBody(model, stream)), stream: stream ? 'openai' : undefined };
}

/**
 * Non-streamed latency with a zero-latency simulator, then streams with the first token held
 * ttftMs. Both paths are warmed up first and measured back to back at each connection count,
 * so a drift of the shared machine hits them alike.
 */
async function measurePaths(label: string, sim: SimulatorProcess, target: (path: Path, stream: boolean) => Target, duration: number, ttftMs: number): Promise<PathMeasurement[]> {
  const out: PathMeasurement[] = [];
  for (const stream of [false, true]) {
    await sim.configure({ ttftMs: stream ? ttftMs : 0 });
    const gens = PATHS.map((path) => ({ path, gen: new LoadGenerator(target(path, stream), 64) }));
    try {
      for (const { gen } of gens) await gen.closedLoop(8, 3000); // warm-up: JIT, connection pools, caches
      for (const c of [1, 32]) {
        for (const { path, gen } of gens) {
          console.error(`  ${label}: ${path}, ${stream ? 'stream' : 'non-stream'}, ${c} connection(s)`);
          out.push({ label, connections: c, path, stream, ...(await gen.closedLoop(c, duration)) });
        }
      }
    } finally {
      await Promise.all(gens.map(({ gen }) => gen.close()));
    }
  }
  await sim.configure({ ttftMs: 0 });
  return out;
}

/** Fails unless one request on each path reached the simulator's route of the expected provider API. */
async function checkRoutes(sim: SimulatorProcess, gw: BenchTarget): Promise<void> {
  const expected: Record<Path, string> = { passthrough: 'openai.chat.completions', translated: 'anthropic.messages' };
  for (const path of PATHS) {
    const before = (await sim.stats()).byRoute[expected[path]] ?? 0;
    const t = gatewayTarget(gw, path, false);
    const res = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.key}` }, body: t.body });
    const after = (await sim.stats()).byRoute[expected[path]] ?? 0;
    if (res.status !== 200 || after !== before + 1) throw new Error(`${path} request did not reach ${expected[path]} (status ${res.status}): ${(await res.text()).slice(0, 300)}`);
  }
}

async function translation(sim: SimulatorProcess, modes: string[], duration: number, cacheTtl: string, ttftMs: number): Promise<string[]> {
  const out: string[] = [];
  const rows = await measurePaths('simulator direct', sim, (path, stream) => directTarget(sim, path, stream), duration, ttftMs);
  for (const mode of modes) {
    const gw = await startGateway(mode, sim, cacheTtl);
    try {
      await checkRoutes(sim, gw);
      rows.push(...(await measurePaths(`ASC ${mode}`, sim, (path, stream) => gatewayTarget(gw, path, stream), duration, ttftMs)));
    } finally {
      await gw.stop();
    }
  }
  const find = (label: string, path: Path, stream: boolean, c: number) => rows.find((r) => r.label === label && r.path === path && r.stream === stream && r.connections === c);
  const diff = (a: LatencyStats | undefined, b: LatencyStats | undefined, k: keyof LatencyStats) => (a && b ? ms(a[k] - b[k]) : '—');
  const isDirect = (r: Measurement) => r.label === 'simulator direct';

  out.push('Non-streamed, simulator latency 0. "added" = through ASC minus the same path straight to the simulator.\n');
  out.push('| path | target | connections | req/s | mean ms | p50 ms | p99 ms | added mean ms | added p50 ms | added p99 ms | errors |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows.filter((x) => !x.stream)) {
    const b = isDirect(r) ? undefined : find('simulator direct', r.path, false, r.connections);
    out.push(`| ${r.path} | ${r.label} | ${r.connections} | ${r.rps.toFixed(0)} | ${ms(r.mean)} | ${ms(r.p50)} | ${ms(r.p99)} | ${diff(r, b, 'mean')} | ${diff(r, b, 'p50')} | ${diff(r, b, 'p99')} | ${r.errors} |`);
  }
  out.push('\nTranslated minus passthrough (non-streamed): through ASC, and the part added by ingress (net of the simulator\'s own difference).\n');
  out.push('| target | connections | req/s | mean ms | p50 ms | p99 ms | added-by-ingress mean ms | added-by-ingress p50 ms | added-by-ingress p99 ms |');
  out.push('|---|---|---|---|---|---|---|---|---|');
  for (const label of [...new Set(rows.map((r) => r.label))]) {
    for (const c of [1, 32]) {
      const t = find(label, 'translated', false, c);
      const p = find(label, 'passthrough', false, c);
      if (!t || !p) continue;
      const dt = find('simulator direct', 'translated', false, c);
      const dp = find('simulator direct', 'passthrough', false, c);
      const net = (k: keyof LatencyStats) => (isDirect(t) || !dt || !dp ? '—' : ms(t[k] - dt[k] - (p[k] - dp[k])));
      out.push(`| ${label} | ${c} | ${(t.rps - p.rps).toFixed(0)} | ${diff(t, p, 'mean')} | ${diff(t, p, 'p50')} | ${diff(t, p, 'p99')} | ${net('mean')} | ${net('p50')} | ${net('p99')} |`);
    }
  }
  out.push(`\nStreams (stream: true), simulator time to first token ${ttftMs} ms. TTFT = request start to the first SSE event with content, at the client.\n`);
  out.push('| path | target | connections | streams/s | TTFT mean ms | TTFT p50 ms | TTFT p99 ms | added mean ms | added p50 ms | added p99 ms | errors |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows.filter((x) => x.stream)) {
    const b = isDirect(r) ? undefined : find('simulator direct', r.path, true, r.connections)?.ttft;
    const t = r.ttft;
    out.push(
      `| ${r.path} | ${r.label} | ${r.connections} | ${r.rps.toFixed(0)} | ${t ? ms(t.mean) : '—'} | ${t ? ms(t.p50) : '—'} | ${t ? ms(t.p99) : '—'} | ${diff(t, b, 'mean')} | ${diff(t, b, 'p50')} | ${diff(t, b, 'p99')} | ${r.errors} |`,
    );
  }
  return out;
}

/** Starts every gateway of the peer comparison (in parallel: boot is not measured), runs it, stops them all. */
async function peerRun(sim: SimulatorProcess, modes: string[], cacheTtl: string, rounds: number, duration: number, warmup: number): Promise<string[]> {
  const starts: Array<{ label: string; streams: boolean; start: () => Promise<BenchTarget> }> = [
    { label: 'Portkey', streams: false, start: () => portkey(sim.url) },
    // Calibration: the HTTP hop alone, in Node (see bare-proxy.main.ts).
    { label: 'bare Node proxy', streams: false, start: () => bareProxy(sim.url) },
    ...modes.map((mode) => ({ label: `ASC ${mode}`, streams: true, start: () => startGateway(mode, sim, cacheTtl) })),
  ];
  const t0 = performance.now();
  const started = await Promise.allSettled(starts.map((s) => s.start()));
  console.error(`  gateways started in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const gateways: PeerGateway[] = started.flatMap((r, i) => (r.status === 'fulfilled' ? [{ label: starts[i].label, streams: starts[i].streams, gateway: r.value }] : []));
  try {
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return await peer(sim, gateways, { rounds, durationMs: duration, warmupMs: warmup });
  } finally {
    await Promise.all(gateways.map((g) => g.gateway.stop()));
  }
}

const SCENARIOS = ['overhead', 'translation', 'peer', 'profile', 'noisy'];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'overhead' },
      mode: { type: 'string', default: 'both' },
      duration: { type: 'string' },
      'cache-ttl-ms': { type: 'string', default: '2000' },
      'ttft-ms': { type: 'string', default: '50' },
      rounds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1.5' },
      connections: { type: 'string', default: '32' },
      'profile-dir': { type: 'string' },
      'max-in-flight': { type: 'string', default: '16' },
      'latency-ms': { type: 'string', default: '100' },
      'quiet-rate': { type: 'string', default: '30' },
      factor: { type: 'string', default: '20' },
      governed: { type: 'boolean', default: false },
    },
  });
  const scenario = String(values.scenario);
  if (!SCENARIOS.includes(scenario)) throw new Error(`unknown --scenario ${scenario} (${SCENARIOS.join('|')})`);
  const defaultDuration: Record<string, string> = { peer: '2', profile: '20', noisy: '20' };
  const duration = Number(values.duration ?? defaultDuration[scenario] ?? '10') * 1000;
  const cacheTtl = String(values['cache-ttl-ms']);
  const ttftMs = Number(values['ttft-ms']);
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup) * 1000;
  const modes = values.mode === 'both' ? ['embedded', 'production'] : [String(values.mode)];
  if (!(duration > 0) || !(rounds >= 1) || !(warmup >= 0)) throw new Error('--duration and --rounds must be positive numbers, --warmup not negative');
  const loadBefore = loadavg()[0];
  const sim = await startSimulatorProcess();
  let report: string[];
  try {
    if (scenario === 'translation') report = await translation(sim, modes, duration, cacheTtl, ttftMs);
    else if (scenario === 'peer') report = await peerRun(sim, modes, cacheTtl, rounds, duration, warmup);
    else if (scenario === 'profile') {
      // One process is profiled: the embedded suite unless --mode production (its ingress).
      const mode = values.mode === 'production' ? 'production' : 'embedded';
      report = await profile(sim, { cacheTtl, durationMs: duration, connections: Number(values.connections), dir: values['profile-dir'], mode, governed: values.governed === true });
    }
    else if (scenario === 'noisy') {
      const opts = { maxInFlight: Number(values['max-in-flight']), latencyMs: Number(values['latency-ms']), quietRate: Number(values['quiet-rate']), factor: Number(values.factor) };
      if (!Object.values(opts).every((v) => v > 0)) throw new Error('--max-in-flight, --latency-ms, --quiet-rate and --factor must be positive numbers');
      report = await noisy(sim, { modes: modes as Array<'embedded' | 'production'>, cacheTtl, rounds, durationMs: duration, profileDir: values['profile-dir'], ...opts });
    }
    else report = await overhead(sim, modes, duration, cacheTtl);
  } finally {
    await sim.proc.stop();
  }
  const extras: Record<string, string> = {
    translation: `; simulator TTFT ${ttftMs} ms for streams`,
    noisy: `; ${rounds} rounds`,
    peer: `; ${rounds} rounds, each point after ${warmup / 1000} s of the same load, on a quiet machine; simulator TTFT 0; Portkey @portkey-ai/gateway ${portkeyVersion()}`,
  };
  const extra = extras[scenario] ?? '';
  console.log(`\nMachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; scenario ${scenario}; ${duration / 1000}s per point; ingress config cache TTL ${cacheTtl} ms${extra}; 1-min load average ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after\n`);
  console.log(report.join('\n'));
}

function portkeyVersion(): string {
  try {
    return (JSON.parse(readFileSync(require.resolve('@portkey-ai/gateway/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '(not installed)';
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(1);
});
