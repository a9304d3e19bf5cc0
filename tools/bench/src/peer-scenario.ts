// The peer comparison of issue 7: ASC against Portkey's open-source gateway, side by side.
//
// Every target is up for the whole run and they take turns: each round measures every target
// at 1 and then 32 connections (the order rotates from round to round), then the streams, so
// a drift of this shared machine (other work, background consumers) hits all of them alike.
// Figures are medians over the rounds; "added" is the median of each round's target minus the
// direct upstream measured in that same round.
import { LoadGenerator, LoadResult, Target } from './load';
import { BenchTarget, PASSTHROUGH_MODEL, SimulatorProcess } from './targets';

export interface PeerGateway {
  label: string;
  gateway: BenchTarget;
  /** Measure `stream: true` too (Portkey 1.15 fails streams on Node 20: a TypeError appending to immutable headers). */
  streams: boolean;
}

export interface PeerOptions {
  rounds: number;
  durationMs: number;
}

const DIRECT = 'direct upstream';
const PORTKEY = 'Portkey';

const MESSAGES = [
  { role: 'system', content: 'You are a helpful support assistant.' },
  { role: 'user', content: 'Where is my order #12345? It was supposed to arrive yesterday.' },
];

function body(stream: boolean): string {
  return JSON.stringify({ model: PASSTHROUGH_MODEL, messages: MESSAGES, max_tokens: 64, ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) });
}

interface Contender {
  label: string;
  json: LoadGenerator;
  stream?: LoadGenerator;
}

interface Point extends LoadResult {
  label: string;
  round: number;
  connections: number;
  stream: boolean;
}

function contender(label: string, target: Omit<Target, 'body' | 'stream'>, streams: boolean): Contender {
  return {
    label,
    json: new LoadGenerator({ ...target, body: body(false) }, 64),
    stream: streams ? new LoadGenerator({ ...target, body: body(true), stream: 'openai' }, 64) : undefined,
  };
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
const settle = () => new Promise((r) => setTimeout(r, 300));

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function peer(sim: SimulatorProcess, gateways: PeerGateway[], options: PeerOptions): Promise<string[]> {
  const direct = { url: `${sim.url}/v1/chat/completions`, key: 'sk-direct' };
  await checkReachesSimulator(sim, DIRECT, direct);
  for (const g of gateways) await checkReachesSimulator(sim, g.label, g.gateway);
  const contenders = [contender(DIRECT, direct, true), ...gateways.map((g) => contender(g.label, g.gateway, g.streams))];
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
          points.push({ label: c.label, round, connections, stream: false, ...(await c.json.closedLoop(connections, options.durationMs)) });
        }
      }
      for (const c of order) {
        if (!c.stream) continue;
        await settle();
        console.error(`  round ${round + 1}/${options.rounds}: ${c.label}, stream, 1 connection`);
        points.push({ label: c.label, round, connections: 1, stream: true, ...(await c.stream.closedLoop(1, options.durationMs)) });
      }
    }
  } finally {
    await Promise.all(contenders.flatMap((c) => [c.json.close(), c.stream?.close()]));
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
  out.push(`Medians over ${rounds} rounds. Non-streamed OpenAI chat, zero-latency simulator; added = target minus the direct upstream in the same round.\n`);
  out.push('| target | req/s, 32 conn | × Portkey, 32 conn | p50 ms, 1 conn | added p50 ms | added mean ms | added p99 ms | streamed added TTFT p50 ms | errors |');
  out.push('|---|---|---|---|---|---|---|---|---|');
  for (const label of labels) {
    const isDirect = label === DIRECT;
    const rps = med(label, 32, false, (p) => p.rps);
    const ratio = med(label, 32, false, (p, _d, k) => (k ? p.rps / k.rps : undefined));
    const p50 = med(label, 1, false, (p) => p.p50);
    const added = (k: 'p50' | 'mean' | 'p99') => (isDirect ? '—' : f2(med(label, 1, false, (p, d) => p[k] - d[k])));
    const hasStream = points.some((p) => p.label === label && p.stream);
    const ttft = isDirect || !hasStream ? (isDirect ? '—' : 'not measured') : f2(med(label, 1, true, (p, d) => (p.ttft && d.ttft ? p.ttft.p50 - d.ttft.p50 : undefined)));
    const errors = points.filter((p) => p.label === label).reduce((a, p) => a + p.errors, 0);
    out.push(`| ${label} | ${rps.toFixed(0)} | ${label === PORTKEY ? '1' : f2(ratio)} | ${f2(p50)} | ${added('p50')} | ${added('mean')} | ${added('p99')} | ${ttft} | ${errors} |`);
  }
  out.push('\nEvery point (closed loop; TTFT = request start to the first SSE event with content, at the client):\n');
  out.push('| round | target | connections | kind | req/s | mean ms | p50 ms | p99 ms | TTFT p50 ms | errors |');
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const p of [...points].sort((a, b) => a.round - b.round || Number(a.stream) - Number(b.stream) || a.connections - b.connections || labels.indexOf(a.label) - labels.indexOf(b.label))) {
    out.push(`| ${p.round + 1} | ${p.label} | ${p.connections} | ${p.stream ? 'stream' : 'json'} | ${p.rps.toFixed(0)} | ${f2(p.mean)} | ${f2(p.p50)} | ${f2(p.p99)} | ${p.ttft ? f2(p.ttft.p50) : '—'} | ${p.errors} |`);
  }
  return out;
}
