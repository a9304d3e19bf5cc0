import { createHash } from 'node:crypto';
import { createServer, IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { anthropicWire } from './anthropic.wire';
import { mistralWire } from './mistral.wire';
import { openaiWire } from './openai.wire';
import { SimulatorError } from './simulator.error';
import type {
  FaultMode,
  ProviderId,
  RouteId,
  SimulatorHandle,
  SimulatorOptions,
  SimulatorRequestRecord,
  SimulatorRuntimeOptions,
  SimulatorStats,
} from './simulator.types';
import { ApiRequest, isRecord, Outcome, ProviderWire, RequestKnobs } from './wire.types';

/** Request headers that tune one request (all optional; they override server-wide options). */
export const SIM_HEADERS = {
  latencyMs: 'x-sim-latency-ms',
  ttftMs: 'x-sim-ttft-ms',
  tokensPerSec: 'x-sim-tokens-per-sec',
  chunkIntervalMs: 'x-sim-chunk-interval-ms',
  fail: 'x-sim-fail',
  failTimes: 'x-sim-fail-times',
  failKey: 'x-sim-fail-key',
  failAfterTokens: 'x-sim-fail-after-tokens',
  retryAfter: 'x-sim-retry-after',
  replyWords: 'x-sim-reply-words',
  toolCall: 'x-sim-tool-call',
  cachedTokens: 'x-sim-cached-tokens',
} as const;

const WIRES: Record<ProviderId, ProviderWire> = { openai: openaiWire, anthropic: anthropicWire, mistral: mistralWire };
const PREFIXES: Array<[string, ProviderId]> = [
  ['/openai/', 'openai'],
  ['/anthropic/', 'anthropic'],
  ['/mistral/', 'mistral'],
];
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const HIDDEN_HEADERS = new Set(['authorization', 'x-api-key', 'proxy-authorization', 'cookie']);
const JSON_TYPE = 'application/json';
const SSE_TYPE = 'text/event-stream; charset=utf-8';

/** sha256 of an API key, first 16 hex chars: what request records keep instead of the key. */
export function keyFingerprint(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

function resolveRoute(method: string, path: string, headers: IncomingHttpHeaders): { route: RouteId; provider: ProviderId } {
  let provider: ProviderId | null = null;
  let rest = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  for (const [prefix, id] of PREFIXES) {
    if (rest.startsWith(prefix)) {
      provider = id;
      rest = rest.slice(prefix.length - 1);
      break;
    }
  }
  const unknown = { route: 'unknown' as const, provider: provider ?? (rest.startsWith('/v1/messages') ? 'anthropic' : 'openai') };
  if (method === 'POST') {
    switch (rest) {
      case '/v1/chat/completions':
        if (provider === 'anthropic') return unknown;
        return provider === 'mistral' ? { route: 'mistral.chat.completions', provider } : { route: 'openai.chat.completions', provider: 'openai' };
      case '/v1/embeddings':
        if (provider === 'anthropic') return unknown;
        return provider === 'mistral' ? { route: 'mistral.embeddings', provider } : { route: 'openai.embeddings', provider: 'openai' };
      case '/v1/responses':
        return provider === null || provider === 'openai' ? { route: 'openai.responses', provider: 'openai' } : unknown;
      case '/v1/messages':
        return provider === null || provider === 'anthropic' ? { route: 'anthropic.messages', provider: 'anthropic' } : unknown;
      case '/v1/messages/count_tokens':
        return provider === null || provider === 'anthropic' ? { route: 'anthropic.count_tokens', provider: 'anthropic' } : unknown;
    }
  } else if (method === 'GET' && rest === '/v1/models') {
    const p = provider ?? (headers['anthropic-version'] ? 'anthropic' : 'openai');
    return { route: `${p}.models`, provider: p };
  }
  return unknown;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v.trim() : undefined;
}

function nonNegative(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function parseFaultMode(v: string | undefined): FaultMode | null | undefined {
  if (v === undefined || v === '') return undefined;
  const s = v.toLowerCase();
  if (s === 'none' || s === 'off') return null;
  if (s === 'timeout' || s === 'disconnect' || s === 'disconnect-midstream' || s === 'error-midstream') return s;
  const n = Number(s);
  return Number.isInteger(n) && n >= 400 && n <= 599 ? n : undefined;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new SimulatorError(413, 'too_large', 'Request body too large.'));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface Counters {
  total: number;
  byRoute: Partial<Record<RouteId, number>>;
  byStatus: Record<string, number>;
  streams: number;
  faultsInjected: number;
  inFlight: number;
}

const emptyCounters = (): Counters => ({ total: 0, byRoute: {}, byStatus: {}, streams: 0, faultsInjected: 0, inFlight: 0 });

class Simulator {
  private config: SimulatorRuntimeOptions;
  private accepted: Set<string> | null;
  private counters = emptyCounters();
  private records: SimulatorRequestRecord[] = [];
  private failBudgets = new Map<string, number>();
  private serverFailCount = 0;
  private timers = new Set<NodeJS.Timeout>();
  private closing = false;

  constructor(options: SimulatorOptions) {
    this.config = { ...options };
    this.accepted = options.acceptedKeys ? new Set(options.acceptedKeys) : null;
  }

  configure(patch: SimulatorRuntimeOptions): void {
    this.config = { ...this.config, ...patch };
    if ('acceptedKeys' in patch) this.accepted = patch.acceptedKeys ? new Set(patch.acceptedKeys) : null;
  }

  stats(): SimulatorStats {
    const c = this.counters;
    return { total: c.total, byRoute: { ...c.byRoute }, byStatus: { ...c.byStatus }, streams: c.streams, faultsInjected: c.faultsInjected, inFlight: c.inFlight };
  }

  requests(): SimulatorRequestRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  reset(): void {
    const inFlight = this.counters.inFlight;
    this.counters = emptyCounters();
    this.counters.inFlight = inFlight;
    this.records = [];
    this.failBudgets.clear();
    this.serverFailCount = 0;
  }

  shutdown(): void {
    this.closing = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private wait(ms: number): Promise<void> | null {
    if (!(ms > 0)) return null;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private knobs(headers: IncomingHttpHeaders): RequestKnobs {
    const c = this.config;
    const h = (name: string) => header(headers, name);
    const fail = parseFaultMode(h(SIM_HEADERS.fail));
    const tool = h(SIM_HEADERS.toolCall);
    let forceTool: string | boolean | undefined;
    if (tool !== undefined) {
      const t = tool.toLowerCase();
      forceTool = t === 'none' || t === 'false' || t === '0' ? false : t === '' || t === 'true' || t === '1' || t === 'auto' || t === 'any' ? true : tool;
    }
    return {
      latencyMs: nonNegative(h(SIM_HEADERS.latencyMs)) ?? c.latencyMs ?? 0,
      ttftMs: nonNegative(h(SIM_HEADERS.ttftMs)) ?? c.ttftMs ?? 0,
      tokensPerSec: nonNegative(h(SIM_HEADERS.tokensPerSec)) ?? c.tokensPerSec ?? 0,
      chunkIntervalMs: nonNegative(h(SIM_HEADERS.chunkIntervalMs)) ?? c.chunkIntervalMs ?? 0,
      fault: fail !== undefined ? fail : c.fail ?? null,
      failAfterTokens: nonNegative(h(SIM_HEADERS.failAfterTokens)) ?? null,
      retryAfterSec: nonNegative(h(SIM_HEADERS.retryAfter)) ?? c.retryAfterSec ?? null,
      replyWords: nonNegative(h(SIM_HEADERS.replyWords)) ?? c.replyWords,
      replyText: c.replyText,
      forceTool,
      cachedTokens: nonNegative(h(SIM_HEADERS.cachedTokens)) ?? 0,
    };
  }

  /** Whether this request gets the configured fault (header faults may be limited by x-sim-fail-times). */
  private faultFor(knobs: RequestKnobs, headers: IncomingHttpHeaders, route: RouteId, raw: Buffer): FaultMode | null {
    if (knobs.fault === null) return null;
    const perRequest = header(headers, SIM_HEADERS.fail) !== undefined;
    if (perRequest) {
      const times = nonNegative(header(headers, SIM_HEADERS.failTimes));
      if (times === undefined) return knobs.fault;
      const key =
        header(headers, SIM_HEADERS.failKey) ??
        `${route}|${header(headers, SIM_HEADERS.fail)}|${times}|${createHash('sha1').update(raw).digest('hex')}`;
      const used = this.failBudgets.get(key) ?? 0;
      if (used >= times) return null;
      this.failBudgets.set(key, used + 1);
      return knobs.fault;
    }
    const rate = this.config.failRate ?? 1;
    const n = ++this.serverFailCount;
    return Math.floor(n * rate) > Math.floor((n - 1) * rate) ? knobs.fault : null;
  }

  private record(req: IncomingMessage, route: RouteId, path: string, key: string | null): SimulatorRequestRecord {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!HIDDEN_HEADERS.has(k) && v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const rec: SimulatorRequestRecord = {
      at: Date.now(),
      route,
      method: req.method ?? 'GET',
      path,
      headers,
      keyFingerprint: key ? keyFingerprint(key) : null,
      body: null,
      model: null,
      stream: false,
      outcome: null,
      reportedUsage: null,
    };
    const limit = this.config.recordLimit ?? 200;
    if (limit > 0) {
      this.records.push(rec);
      if (this.records.length > limit) this.records.splice(0, this.records.length - limit);
    }
    return rec;
  }

  private settle(rec: SimulatorRequestRecord, outcome: string): void {
    if (rec.outcome !== null) return;
    rec.outcome = outcome;
    // Only a response delivered whole reported its usage.
    if (!/^2\d\d$/.test(outcome)) rec.reportedUsage = null;
    this.counters.byStatus[outcome] = (this.counters.byStatus[outcome] ?? 0) + 1;
  }

  async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
    if (path.startsWith('/_sim/')) return this.admin(req, res, method, path);

    const { route, provider } = resolveRoute(method, path, req.headers);
    const wire = WIRES[provider];
    const c = this.counters;
    c.total++;
    c.byRoute[route] = (c.byRoute[route] ?? 0) + 1;
    c.inFlight++;
    const key = wire.apiKey(req.headers);
    const rec = this.record(req, route, path, key);
    const requestId = wire.newRequestId();
    const counters = this.counters;
    res.on('close', () => {
      counters.inFlight--;
      this.settle(rec, 'aborted');
    });

    const knobs = this.knobs(req.headers);
    try {
      if (route === 'unknown') throw new SimulatorError(404, 'not_found', `Invalid URL (${method} ${path})`);
      if (!key && !this.config.anonymous) throw new SimulatorError(401, 'missing_api_key', 'Missing API key');
      if (key && this.accepted && !this.accepted.has(key)) throw new SimulatorError(401, 'invalid_api_key', 'Invalid API key');
      wire.preflight?.(route, req.headers);

      let body: Record<string, unknown> = {};
      let raw: Buffer = Buffer.alloc(0);
      if (method === 'POST') {
        raw = await readBody(req);
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new SimulatorError(400, 'invalid_json', 'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly.)');
        }
        if (!isRecord(parsed)) throw new SimulatorError(400, 'invalid_json', 'The request body must be a JSON object.');
        body = parsed;
        rec.body = body;
        rec.model = typeof body.model === 'string' ? body.model : null;
        rec.stream = body.stream === true;
      }

      let fault = this.faultFor(knobs, req.headers, route, raw);
      if (fault !== null) c.faultsInjected++;
      if (typeof fault === 'number') {
        await this.wait(knobs.latencyMs);
        return this.sendError(res, rec, wire, requestId, new SimulatorError(fault, fault === 429 ? 'rate_limited' : 'injected_fault', `Injected ${fault}`), knobs);
      }
      if (fault === 'timeout') {
        this.settle(rec, 'timeout');
        return; // never answered; the client gives up or close() drops the socket
      }
      if (fault === 'disconnect') {
        await this.wait(knobs.latencyMs);
        this.settle(rec, 'disconnect');
        req.socket.destroy();
        return;
      }

      const apiReq: ApiRequest = { route, headers: req.headers, body, knobs, embeddingDims: this.config.embeddingDims };
      const outcome = wire.handle(apiReq);
      if (outcome.kind === 'json' && fault === 'error-midstream') fault = 500; // no stream to break: answer a plain 500
      if (typeof fault === 'number') {
        await this.wait(knobs.latencyMs);
        return this.sendError(res, rec, wire, requestId, new SimulatorError(fault, 'injected_fault', `Injected ${fault}`), knobs);
      }
      if (outcome.kind === 'sse') c.streams++;
      if (!fault) rec.reportedUsage = outcome.usage ?? null;
      await this.emit(req, res, rec, wire, requestId, outcome, knobs, fault);
    } catch (err) {
      const simErr = err instanceof SimulatorError ? err : new SimulatorError(500, 'internal', err instanceof Error ? err.message : 'Internal error');
      if (!res.headersSent && !res.destroyed) {
        await this.wait(knobs.latencyMs);
        this.sendError(res, rec, wire, requestId, simErr, knobs);
      }
    }
  }

  private sendError(res: ServerResponse, rec: SimulatorRequestRecord, wire: ProviderWire, requestId: string, err: SimulatorError, knobs: RequestKnobs): void {
    if (res.destroyed || this.closing) return;
    const payload = JSON.stringify(wire.errorBody(err, requestId));
    const headers: Record<string, string | number> = { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(payload), [wire.requestIdHeader]: requestId };
    const retryAfter = knobs.retryAfterSec ?? (err.status === 429 ? 1 : null);
    if (retryAfter !== null && (err.status === 429 || err.status >= 500)) headers['retry-after'] = String(retryAfter);
    res.writeHead(err.status, headers);
    res.end(payload);
    this.settle(rec, String(err.status));
  }

  private async emit(
    req: IncomingMessage,
    res: ServerResponse,
    rec: SimulatorRequestRecord,
    wire: ProviderWire,
    requestId: string,
    outcome: Outcome,
    knobs: RequestKnobs,
    fault: FaultMode | null,
  ): Promise<void> {
    const tps = knobs.tokensPerSec;
    if (outcome.kind === 'json') {
      const genMs = tps > 0 ? (Math.max(0, outcome.tokens - 1) * 1000) / tps : 0;
      await this.wait(knobs.latencyMs + knobs.ttftMs + genMs);
      if (res.destroyed || this.closing) return;
      const payload = JSON.stringify(outcome.body);
      const length = Buffer.byteLength(payload);
      res.writeHead(outcome.status, { 'content-type': JSON_TYPE, 'content-length': length, [wire.requestIdHeader]: requestId });
      if (fault === 'disconnect-midstream') {
        this.settle(rec, 'disconnect');
        res.write(Buffer.from(payload).subarray(0, Math.floor(length / 2)), () => req.socket.destroy());
        return;
      }
      res.end(payload);
      this.settle(rec, String(outcome.status));
      return;
    }

    await this.wait(knobs.latencyMs);
    if (res.destroyed || this.closing) return;
    res.writeHead(200, { 'content-type': SSE_TYPE, 'cache-control': 'no-cache', [wire.requestIdHeader]: requestId });
    const midstream = fault === 'disconnect-midstream' || fault === 'error-midstream';
    const stopAfter = midstream ? knobs.failAfterTokens ?? Math.floor(outcome.tokens / 2) : Infinity;

    // Fast path: nothing to pace, no fault -> one write.
    if (!midstream && tps <= 0 && knobs.ttftMs <= 0) {
      let all = outcome.head;
      for (const d of outcome.deltas) all += d.frame;
      res.end(all + outcome.tail);
      this.settle(rec, '200');
      return;
    }

    res.write(outcome.head);
    await this.wait(knobs.ttftMs);
    const start = Date.now();
    let i = 0;
    let sent = 0;
    const deltas = outcome.deltas;
    while (i < deltas.length && sent < stopAfter) {
      if (res.destroyed || this.closing) return;
      const elapsed = Date.now() - start;
      let buf = '';
      while (i < deltas.length && sent < stopAfter && (tps <= 0 || (sent * 1000) / tps <= elapsed)) {
        buf += deltas[i].frame;
        sent += deltas[i].tokens;
        i++;
      }
      if (buf) res.write(buf);
      if (i < deltas.length && sent < stopAfter) await this.wait(Math.max(1, knobs.chunkIntervalMs, (sent * 1000) / tps - (Date.now() - start)));
    }
    if (res.destroyed || this.closing) return;
    if (fault === 'disconnect-midstream') {
      this.settle(rec, 'disconnect');
      res.write('', () => req.socket.destroy());
      return;
    }
    if (fault === 'error-midstream') {
      res.end(outcome.errorFrame);
      this.settle(rec, '200');
      return;
    }
    res.end(outcome.tail);
    this.settle(rec, '200');
  }

  private async admin(req: IncomingMessage, res: ServerResponse, method: string, path: string): Promise<void> {
    const send = (status: number, body: unknown) => {
      const payload = JSON.stringify(body);
      res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    };
    if (method === 'GET' && path === '/_sim/health') return send(200, { ok: true });
    if (method === 'GET' && path === '/_sim/stats') return send(200, this.stats());
    if (method === 'GET' && path === '/_sim/requests') return send(200, this.requests());
    if (method === 'POST' && path === '/_sim/reset') {
      this.reset();
      return send(200, { ok: true });
    }
    if (method === 'POST' && path === '/_sim/config') {
      try {
        const patch: unknown = JSON.parse((await readBody(req)).toString('utf8'));
        if (!isRecord(patch)) return send(400, { error: 'expected a JSON object' });
        this.configure(patch as SimulatorRuntimeOptions);
        return send(200, { ok: true });
      } catch {
        return send(400, { error: 'invalid JSON' });
      }
    }
    send(404, { error: `unknown admin route ${method} ${path}` });
  }
}

/**
 * Starts an HTTP server that answers like OpenAI, Anthropic and Mistral.
 * Mounts: /v1/* (OpenAI, plus Anthropic's /v1/messages), /openai/v1/*, /anthropic/v1/*, /mistral/v1/*.
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<SimulatorHandle> {
  const sim = new Simulator(options);
  const server: Server = createServer({ keepAliveTimeout: 65_000, noDelay: true }, (req, res) => {
    sim.onRequest(req, res).catch(() => res.destroy());
  });
  server.headersTimeout = 66_000;
  server.requestTimeout = 0; // `timeout` faults hold requests open on purpose
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}`;
  let closed: Promise<void> | null = null;
  return {
    url,
    port,
    baseUrls: { openai: `${url}/openai/v1`, anthropic: `${url}/anthropic`, mistral: `${url}/mistral` },
    stats: () => sim.stats(),
    requests: () => sim.requests(),
    reset: () => sim.reset(),
    configure: (patch) => sim.configure(patch),
    close() {
      closed ??= new Promise<void>((resolve) => {
        sim.shutdown();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
