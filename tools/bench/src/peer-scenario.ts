// The peer comparison of issue 7: ASC against Portkey's open-source gateway, side by side.
//
// Every target is up for the whole run and they take turns: each round measures every target
// at 1 and then 32 connections (the order rotates from round to round), then the streams, so
// a drift of this shared machine (other work, background consumers) hits all of them alike.
// Figures are medians over the rounds; "added" is the median of each round's target minus the
// direct upstream measured in that same round.
import { LoadGenerator, LoadResult, Target } from './load';
import { cpuBetween, cpuByPid, cpuMs, machineCpuMs, pidsMatching } from './process-cpu';
import { BENCH_MESSAGES, BenchTarget, PASSTHROUGH_MODEL, SimulatorProcess, openAIBody } from './targets';

export interface PeerGateway {
  label: string;
  gateway: BenchTarget;
  /** Measure `stream: true` too (Portkey 1.15 fails streams on Node 20: a TypeError appending to immutable headers). */
  streams: boolean;
}

export interface PeerOptions {
  rounds: number;
  durationMs: number;
  /** Load before each point's counted window (steady state: ASC production's consumers flush once a second). */
  warmupMs: number;
}

const DIRECT = 'direct upstream';
const PORTKEY = 'Portkey';

export function body(stream: boolean, unique = false): string {
  // A governed contender sends a different prompt each time ({{n}}): the response cache must miss, as for real traffic.
  const messages = unique ? [BENCH_MESSAGES[0], { role: 'user', content: `${BENCH_MESSAGES[1].content} (ticket {{n}})` }] : BENCH_MESSAGES;
  return JSON.stringify(openAIBody(PASSTHROUGH_MODEL, stream, messages));
}

interface Contender {
  label: string;
  /** Its processes, whose CPU time per request is measured (for the direct upstream: the simulator). */
  pids: number[];
  /** Named processes, when there are several: their CPU per request is reported one by one. */
  processes?: Record<string, number>;
  /** Shared back ends the contender alone uses in this run, found by command line when measured (ASC production: Kafka, ClickHouse, Postgres, Redis). */
  infra?: Record<string, RegExp>;
  json: LoadGenerator;
  stream?: LoadGenerator;
}

interface Point extends LoadResult {
  label: string;
  round: number;
  connections: number;
  stream: boolean;
  /** CPU time of the contender's processes per completed request, ms. */
  cpuPerRequest?: number;
  /** The same, per named process. */
  cpuByProcess?: Record<string, number>;
  /** Busy CPU time of the whole machine per completed request (load generator, simulator and everything else included), ms. */
  machinePerRequest?: number;
}

function contender(label: string, pids: number[], target: Omit<Target, 'body' | 'stream'>, streams: boolean, processes?: Record<string, number>, infra?: Record<string, RegExp>): Contender {
  const unique = target.unique === true;
  return {
    label,
    pids,
    processes,
    infra,
    json: new LoadGenerator({ ...target, body: body(false, unique) }, 64),
    stream: streams ? new LoadGenerator({ ...target, body: body(true, unique), stream: 'openai' }, 64) : undefined,
  };
}

/** The label of a gateway's "every control on" contender (its governed tenant's key). */
export const governedLabel = (label: string) => `${label}, limits + budget + cache + guardrails`;
/** The label of a gateway's guardrails-only contender. */
const guardedLabel = (label: string) => `${label}, guardrails`;

/**
 * A gateway's other tenants, measured as contenders of their own: guardrails only, then
 * every control on (a prompt unique to each request, so that the response cache misses).
 */
function tenantsOf(g: PeerGateway): Array<{ label: string; key: string; unique: boolean }> {
  return [
    ...(g.gateway.guardedKey ? [{ label: guardedLabel(g.label), key: g.gateway.guardedKey, unique: false }] : []),
    ...(g.gateway.governedKey ? [{ label: governedLabel(g.label), key: g.gateway.governedKey, unique: true }] : []),
  ];
}

/** Fails unless one request through the target got a 200 and reached the simulator's chat route once. */
async function checkReachesSimulator(sim: SimulatorProcess, label: string, target: Omit<Target, 'body'>): Promise<void> {
  const count = async () => (await sim.stats()).byRoute['openai.chat.completions'] ?? 0;
  const before = await count();
  const res = await fetch(target.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${target.key}`, ...target.headers }, body: body(false) });
  const text = await res.text();
  const after = await count();
  if (res.status !== 200 || after !== before + 1) throw new Error(`${label}: status ${res.status}, simulator saw ${after - before} chat request(s): ${text.slice(0, 300)}`);
}

const rotate = <T>(xs: T[], by: number): T[] => xs.map((_, i) => xs[(i + by) % xs.length]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the machine is quiet before a point: at least 300 ms, then until less than a
 * quarter of a core was busy over the last 200 ms (at most 5 s), so that what the previous
 * target left running (ASC production's consumers draining, a peer's GC) is not charged to
 * the next one.
 */
async function settle(): Promise<void> {
  await sleep(300);
  const deadline = performance.now() + 5_000;
  while (performance.now() < deadline) {
    const before = machineCpuMs();
    await sleep(200);
    const after = machineCpuMs();
    if (before === undefined || after === undefined || after - before < 50) return;
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function peer(sim: SimulatorProcess, gateways: PeerGateway[], options: PeerOptions): Promise<string[]> {
  const direct = { url: `${sim.url}/v1/chat/completions`, key: 'sk-direct' };
  await checkReachesSimulator(sim, DIRECT, direct);
  for (const g of gateways) {
    await checkReachesSimulator(sim, g.label, g.gateway);
    for (const v of tenantsOf(g)) await checkReachesSimulator(sim, v.label, { url: g.gateway.url, key: v.key });
  }
  const simPid = sim.proc.child.pid;
  const contenders = [contender(DIRECT, simPid ? [simPid] : [], direct, true), ...gateways.flatMap((g) => [
      contender(g.label, g.gateway.pids, g.gateway, g.streams, g.gateway.processes, g.gateway.infra),
      ...tenantsOf(g).map((v) => contender(v.label, g.gateway.pids, { url: g.gateway.url, key: v.key, unique: v.unique }, g.streams, g.gateway.processes, g.gateway.infra)),
    ])];
  /** One closed-loop point, with the CPU its processes spent on it. */
  const measure = async (c: Contender, gen: LoadGenerator, connections: number) => {
    // Back ends are found by command line at both ends of the window: a process that appears
    // meanwhile (a Postgres backend for a pooled connection opened again) is counted too.
    const named: Array<[string, () => number[]]> = [
      ...Object.entries(c.processes ?? {}).map(([name, pid]): [string, () => number[]] => [name, () => [pid]]),
      ...Object.entries(c.infra ?? {}).map(([name, pattern]): [string, () => number[]] => [name, () => pidsMatching(pattern)]),
    ];
    let before: number | undefined;
    let beforeEach: Array<Map<number, number> | undefined> = [];
    let machineBefore: number | undefined;
    const r = await gen.closedLoop(connections, options.durationMs, {
      warmupMs: options.warmupMs,
      onMeasureStart: () => {
        before = cpuMs(c.pids);
        beforeEach = named.map(([, pids]) => cpuByPid(pids()));
        machineBefore = machineCpuMs();
      },
    });
    const machineAfter = machineCpuMs();
    const after = cpuMs(c.pids);
    const perRequest = (b: number | undefined, a: number | undefined) => (b !== undefined && a !== undefined && r.requests > 0 ? (a - b) / r.requests : undefined);
    const cpuByProcess = Object.fromEntries(named.flatMap(([name, pids], i) => {
      const start = beforeEach[i];
      const end = cpuByPid(pids());
      const v = start && end ? perRequest(0, cpuBetween(start, end)) : undefined;
      return v === undefined ? [] : [[name, v]];
    }));
    return { ...r, cpuPerRequest: perRequest(before, after), cpuByProcess: named.length ? cpuByProcess : undefined, machinePerRequest: perRequest(machineBefore, machineAfter) };
  };
  const points: Point[] = [];
  try {
    for (const c of contenders) {
      await c.json.closedLoop(8, 2000); // warm-up: JIT, connection pools, config caches
      await c.stream?.closedLoop(4, 1000);
    }
    for (let round = 0; round < options.rounds; round++) {
      const order = rotate(contenders, round);
      for (const connections of [1, 32]) {
        for (const c of order) {
          await settle();
          console.error(`  round ${round + 1}/${options.rounds}: ${c.label}, ${connections} connection(s)`);
          points.push({ label: c.label, round, connections, stream: false, ...(await measure(c, c.json, connections)) });
        }
      }
      for (const c of order) {
        if (!c.stream) continue;
        await settle();
        console.error(`  round ${round + 1}/${options.rounds}: ${c.label}, stream, 1 connection`);
        points.push({ label: c.label, round, connections: 1, stream: true, ...(await measure(c, c.stream, 1)) });
      }
    }
  } finally {
    await Promise.all(contenders.flatMap((c) => [c.json.close(), c.stream?.close()]));
  }
  for (const c of contenders) {
    for (const gen of [c.json, c.stream]) if (gen?.firstError) console.error(`  ${c.label}: first failure: ${gen.firstError}`);
  }
  return report(points, contenders.map((c) => c.label), options.rounds);
}

function report(points: Point[], labels: string[], rounds: number): string[] {
  const at = (label: string, round: number, connections: number, stream: boolean) =>
    points.find((p) => p.label === label && p.round === round && p.connections === connections && p.stream === stream);
  const rs = Array.from({ length: rounds }, (_, i) => i);
  /** Median over rounds of f(target point, direct point, Portkey point) where all exist. */
  const med = (label: string, connections: number, stream: boolean, f: (p: Point, d: Point, k?: Point) => number | undefined) =>
    median(
      rs.flatMap((r) => {
        const p = at(label, r, connections, stream);
        const d = at(DIRECT, r, connections, stream);
        const v = p && d ? f(p, d, at(PORTKEY, r, connections, stream)) : undefined;
        return v === undefined ? [] : [v];
      }),
    );
  const f2 = (v: number) => (Number.isNaN(v) ? '—' : v.toFixed(2));
  const out: string[] = [];
  out.push(
    `Medians over ${rounds} rounds. Non-streamed OpenAI chat, zero-latency simulator; added = target minus the direct upstream in the same round. ` +
      'CPU ms / request = user + system time of the target\'s own processes (direct upstream: the simulator; ASC production: its six services, not Kafka/ClickHouse/Postgres) per completed request; ' +
      '× Portkey CPU efficiency = Portkey\'s CPU per request ÷ the target\'s, the load-independent form of the throughput ratio; ' +
      'machine CPU ms / request = busy time of every core (load generator, simulator, back ends, kernel) per completed request.\n',
  );
  out.push('| target | req/s, 32 conn | × Portkey req/s, 32 conn | CPU ms / request, 32 conn | × Portkey CPU efficiency | machine CPU ms / request, 32 conn | p50 ms, 1 conn | added p50 ms | added mean ms | added p99 ms | streamed added TTFT p50 ms | errors |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const label of labels) {
    const isDirect = label === DIRECT;
    const rps = med(label, 32, false, (p) => p.rps);
    const ratio = med(label, 32, false, (p, _d, k) => (k ? p.rps / k.rps : undefined));
    const cpu = med(label, 32, false, (p) => p.cpuPerRequest);
    const efficiency = med(label, 32, false, (p, _d, k) => (k?.cpuPerRequest && p.cpuPerRequest ? k.cpuPerRequest / p.cpuPerRequest : undefined));
    const machine = med(label, 32, false, (p) => p.machinePerRequest);
    const p50 = med(label, 1, false, (p) => p.p50);
    const added = (k: 'p50' | 'mean' | 'p99') => (isDirect ? '—' : f2(med(label, 1, false, (p, d) => p[k] - d[k])));
    const hasStream = points.some((p) => p.label === label && p.stream);
    const ttft = isDirect || !hasStream ? (isDirect ? '—' : 'not measured') : f2(med(label, 1, true, (p, d) => (p.ttft && d.ttft ? p.ttft.p50 - d.ttft.p50 : undefined)));
    const errors = points.filter((p) => p.label === label).reduce((a, p) => a + p.errors, 0);
    const vsPortkey = (v: number) => (label === PORTKEY ? '1' : isDirect ? '—' : f2(v));
    out.push(`| ${label} | ${rps.toFixed(0)} | ${vsPortkey(ratio)} | ${f2(cpu)} | ${vsPortkey(efficiency)} | ${f2(machine)} | ${f2(p50)} | ${added('p50')} | ${added('mean')} | ${added('p99')} | ${ttft} | ${errors} |`);
  }
  for (const label of labels) {
    const names = [...new Set(points.filter((p) => p.label === label && p.cpuByProcess).flatMap((p) => Object.keys(p.cpuByProcess ?? {})))];
    if (!names.length) continue;
    const parts = names.map((n) => `${n} ${f2(med(label, 32, false, (p) => p.cpuByProcess?.[n]))}`);
    out.push(`\n${label}: CPU ms per request at 32 connections, by process (medians): ${parts.join(', ')}.`);
  }
  out.push('\nEvery point (closed loop; TTFT = request start to the first SSE event with content, at the client):\n');
  out.push('| round | target | connections | kind | req/s | CPU ms / request | mean ms | p50 ms | p99 ms | TTFT p50 ms | errors |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const p of [...points].sort((a, b) => a.round - b.round || Number(a.stream) - Number(b.stream) || a.connections - b.connections || labels.indexOf(a.label) - labels.indexOf(b.label))) {
    out.push(`| ${p.round + 1} | ${p.label} | ${p.connections} | ${p.stream ? 'stream' : 'json'} | ${p.rps.toFixed(0)} | ${p.cpuPerRequest === undefined ? '—' : f2(p.cpuPerRequest)} | ${f2(p.mean)} | ${f2(p.p50)} | ${f2(p.p99)} | ${p.ttft ? f2(p.ttft.p50) : '—'} | ${p.errors} |`);
  }
  return out;
}
