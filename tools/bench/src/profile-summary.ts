// Where a process spends its time, from a V8 CPU profile (`node --cpu-prof`), grouped by area
// of the gateway so a profile taken after a change can be compared with one taken before.
//
//   node dist/tools/bench/src/profile-summary.js FILE.cpuprofile [--from-us T0 --to-us T1] [--top 25]
//
// Self time only: each sample is charged to the function on top of the stack. Node core
// (node:*) and native frames (C++ bindings, builtins) are charged to the area of their nearest
// caller from a package or ASC code (HTTP/2 framing under grpc-js is gRPC's), or, with none,
// to the Node area of the nearest core frame; JSON.parse / JSON.stringify and the socket write
// syscalls (writev…) are areas of their own.
// --from-us/--to-us
// keep the samples in a window of the monotonic clock (microseconds, as process.hrtime), e.g.
// only the time under load, without the boot.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** The parts of Chrome DevTools' CPU profile format (`.cpuprofile`) used here. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface AreaTime {
  area: string;
  /** Self time of the area's frames and of the Node core / native frames they called. */
  selfMs: number;
  /** Of selfMs, the part in the area's own scripts. */
  ownMs: number;
  /** Share of busy time (everything but idle). */
  share: number;
  /** The heaviest functions of the area, by self time. */
  top: Array<{ name: string; selfMs: number }>;
}

export interface ProfileSummary {
  wallMs: number;
  busyMs: number;
  idleMs: number;
  areas: AreaTime[];
  functions: Array<{ name: string; area: string; selfMs: number; share: number }>;
}

const IDLE = 'idle';
const JSON_AREA = 'JSON parse / serialise';
/**
 * V8 rarely shows JSON.parse / JSON.stringify as frames of their own: their time is the self
 * time of the JS function that called them. These callers do little else, so their self time
 * is counted as JSON (the request body parse, the upstream answer parse, the reply serialise).
 */
const JSON_WRAPPERS: Array<[RegExp, string]> = [
  [/\/fastify\/lib\/reply\.js$/, 'serialize'],
  [/\/libs\/providers\/src\/openai-compatible\.client\.js$/, 'postJson'],
];
/** Kernel time of socket writes, whoever wrote: it grows with a busy machine, not with our code. */
const SOCKET_AREA = 'socket write syscalls (any caller)';
const SOCKET_SYSCALLS = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String']);

/**
 * First match wins, on the script URL (compiled ASC code lives under dist/libs/<lib>/, packages
 * under node_modules/). Order matters: an ASC file that is a cache goes to caches before the
 * catch-all for its library.
 */
const AREAS: Array<[string, RegExp]> = [
  ['OTel spans', /@opentelemetry\//],
  ['prom-client metrics', /\/prom-client\/|\/tdigest\/|\/bintrees\//],
  ['logging', /\/(pino[^/]*|sonic-boom|thread-stream|on-exit-leak-free)\/|@nestjs\/common\/services\/(console-)?logger|\/service-kit\/src\/[^/]*log/],
  ['zod validation', /\/zod\//],
  [JSON_AREA, /\/(secure-json-parse|fast-json-stringify|safe-stable-stringify|fast-safe-stringify|json-schema-ref-resolver)\//],
  ['undici (upstream HTTP client)', /undici/],
  ['gRPC / protobuf / config caches', /@grpc\/|protobufjs|@protobufjs|@bufbuild\/|\/libs\/contracts\/|\/lru-cache\/|ttl-cache|control-plane|config-cache/],
  ['events publish (bus, Kafka producer, spool)', /\/libs\/events\/|kafkajs|event-bus|event-publisher|spool/],
  ['Nest / Fastify routing & HTTP framework', /@nestjs\/|\/fastify\/|\/@fastify\/|find-my-way|\/avvio\/|light-my-request|fastify-plugin|\/rxjs\/|reflect-metadata|path-to-regexp|\/fast-querystring\/|\/fast-uri\/|\/abstract-logging\/|\/toad-cache\/|\/process-warning\/|\/rfdc\//],
  ['ASC ingress (gateway, runner, usage)', /\/libs\/ingress\//],
  ['ASC providers (codecs, SSE)', /\/libs\/providers\//],
  ['embedded back end (metering, audit, policy, routing, secrets, chdb, PGlite, pg, TypeORM)', /\/libs\/(metering|audit|analytics|db|policy|routing|secrets|tenancy|service-kit)\/|chdb|pglite|\/pg[^/]*\/|typeorm|\/apps\//],
  ['Node HTTP server, sockets, streams', /^node:(_http|http|net|stream|internal\/(streams|http|net|stream_base_commons|js_stream_socket|child_process))/],
  ['Node other (timers, events, crypto, buffers…)', /^node:/],
];

function areaOfUrl(url: string): string | undefined {
  if (!url) return undefined;
  for (const [area, re] of AREAS) if (re.test(url)) return area;
  return 'other';
}

/** Short, readable name: function (lib-or-package/file:line). */
function frameName(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const fn = frame.functionName || '(anonymous)';
  if (!frame.url) return fn;
  const url = frame.url.replace(/^file:\/\//, '');
  const nm = url.lastIndexOf('node_modules/');
  const dist = url.indexOf('/dist/');
  const where = nm >= 0 ? url.slice(nm + 'node_modules/'.length) : dist >= 0 ? url.slice(dist + '/dist/'.length) : url;
  return `${fn} (${where}:${frame.lineNumber + 1})`;
}

export function summarizeProfile(profile: CpuProfile, window: { fromUs?: number; toUs?: number } = {}, topN = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isNodeCore = (url: string) => !url || url.startsWith('node:') || url.startsWith('wasm:');
  /** The area of a frame's own script; undefined for Node core and native frames. */
  const ownArea = (id: number): string | undefined => {
    const frame = byId.get(id)?.callFrame;
    if (!frame) return undefined;
    const { functionName: fn, url } = frame;
    if (fn === '(idle)') return IDLE;
    if (fn === '(garbage collector)') return 'garbage collector';
    if (fn === '(program)') return 'V8 / native, not attributed (program)';
    if (!url && (fn === 'parse' || fn === 'stringify')) return JSON_AREA;
    if (JSON_WRAPPERS.some(([u, f]) => u.test(url) && f === fn)) return JSON_AREA;
    if (!url && SOCKET_SYSCALLS.has(fn)) return SOCKET_AREA;
    return isNodeCore(url) ? undefined : areaOfUrl(url);
  };
  // Node core and native frames are charged to the nearest caller from a package or from ASC
  // code (a writev under grpc-js is gRPC's cost); with no such caller (the HTTP server's own
  // parsing, timers) to the Node area of the nearest scripted frame.
  const areaCache = new Map<number, string>();
  const areaOf = (id: number): string => {
    const hit = areaCache.get(id);
    if (hit) return hit;
    let area = ownArea(id);
    let nodeArea: string | undefined;
    for (let up: number | undefined = id; area === undefined && up !== undefined; up = parent.get(up)) {
      const url = byId.get(up)?.callFrame.url ?? '';
      if (url.startsWith('node:')) nodeArea ??= areaOfUrl(url);
      area = ownArea(up);
    }
    area ??= nodeArea ?? 'other';
    areaCache.set(id, area);
    return area;
  };

  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let first: number | undefined;
  let last = t;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    // The delta before sample i+1 is how long sample i's stack was on the CPU.
    const dt = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
    if ((window.fromUs !== undefined && t < window.fromUs) || (window.toUs !== undefined && t > window.toUs)) continue;
    first ??= t;
    last = t + dt;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + Math.max(0, dt));
  }

  const areaUs = new Map<string, number>();
  const ownUs = new Map<string, number>();
  const fnUs = new Map<string, { name: string; area: string; us: number }>();
  for (const [id, us] of selfUs) {
    const area = areaOf(id);
    areaUs.set(area, (areaUs.get(area) ?? 0) + us);
    if (ownArea(id) === area) ownUs.set(area, (ownUs.get(area) ?? 0) + us);
    const node = byId.get(id);
    if (!node) continue;
    // Keyed by area too: a Node core function (writev) is charged to several areas.
    const name = frameName(node.callFrame);
    const key = `${area}\u0000${name}`;
    const f = fnUs.get(key) ?? { name, area, us: 0 };
    f.us += us;
    fnUs.set(key, f);
  }
  const idleUs = areaUs.get(IDLE) ?? 0;
  const totalUs = [...areaUs.values()].reduce((a, b) => a + b, 0);
  const busyUs = totalUs - idleUs;
  const share = (us: number) => (busyUs > 0 ? us / busyUs : 0);
  const functions = [...fnUs.values()]
    .filter((f) => f.area !== IDLE)
    .sort((a, b) => b.us - a.us)
    .map((f) => ({ name: f.name, area: f.area, selfMs: f.us / 1000, share: share(f.us) }));
  const areas = [...areaUs.entries()]
    .filter(([area]) => area !== IDLE)
    .sort((a, b) => b[1] - a[1])
    .map(([area, us]) => ({
      area,
      selfMs: us / 1000,
      ownMs: (ownUs.get(area) ?? 0) / 1000,
      share: share(us),
      top: functions.filter((f) => f.area === area).slice(0, 3).map((f) => ({ name: f.name, selfMs: f.selfMs })),
    }));
  return { wallMs: first === undefined ? 0 : (last - first) / 1000, busyMs: busyUs / 1000, idleMs: idleUs / 1000, areas, functions: functions.slice(0, topN) };
}

export function formatSummary(s: ProfileSummary, title: string): string[] {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const out = [
    `${title}: ${s.wallMs.toFixed(0)} ms sampled, busy ${s.busyMs.toFixed(0)} ms (${s.wallMs > 0 ? ((s.busyMs / s.wallMs) * 100).toFixed(0) : 0} % of one core), idle ${s.idleMs.toFixed(0)} ms.`,
    '',
    '| area | ms | share of busy | of which in its own scripts, ms | heaviest functions (self ms) |',
    '|---|---|---|---|---|',
  ];
  for (const a of s.areas) out.push(`| ${a.area} | ${a.selfMs.toFixed(0)} | ${pct(a.share)} | ${a.ownMs.toFixed(0)} | ${a.top.map((f) => `${f.name.replace(/\|/g, '\\|')} ${f.selfMs.toFixed(0)}`).join('; ')} |`);
  out.push('', '| function | area | self ms | share of busy |', '|---|---|---|---|');
  for (const f of s.functions) out.push(`| ${f.name.replace(/\|/g, '\\|')} | ${f.area} | ${f.selfMs.toFixed(0)} | ${pct(f.share)} |`);
  return out;
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'from-us': { type: 'string' }, 'to-us': { type: 'string' }, top: { type: 'string', default: '25' } },
  });
  if (!positionals.length) throw new Error('usage: profile-summary FILE.cpuprofile... [--from-us T0 --to-us T1] [--top 25]');
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const summary = summarizeProfile(profile, { fromUs: num(values['from-us']), toUs: num(values['to-us']) }, Number(values.top));
    console.log(formatSummary(summary, file).join('\n'));
    console.log('');
  }
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    console.error(`profile-summary: ${(err as Error).message}`);
    process.exit(1);
  }
}
