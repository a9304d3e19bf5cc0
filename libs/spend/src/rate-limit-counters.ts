import type { RateLimitCounter, RateLimitCounterState, RateLimitDecision, RateLimitScope } from './rate-limit-store.port';
import type { RateLimitSetting, SpendPolicy, SpendSubject } from './spend-policy';
import { SpendError } from './spend.error';

/**
 * The counters a request is charged to, from its policy: RPM and TPM for tenant, app,
 * key, end user (when the request names one) and model; 0 = unlimited drops the counter.
 */
export function rateLimitCounters(policy: SpendPolicy, subject: SpendSubject): RateLimitCounter[] {
  const out: RateLimitCounter[] = [];
  const add = (scope: RateLimitScope, id: string, setting: RateLimitSetting | undefined) => {
    if (!setting || !id) return;
    if (setting.rpm > 0) out.push({ scope, id, kind: 'requests', limit: setting.rpm });
    if (setting.tpm > 0) out.push({ scope, id, kind: 'tokens', limit: setting.tpm });
  };
  add('tenant', subject.tenantId, policy.tenantLimit);
  add('app', subject.appId, policy.appLimit);
  add('key', subject.keyId, policy.keyLimit);
  add('end_user', subject.endUserId, policy.endUserLimit);
  add('model', subject.model, policy.modelLimit);
  return out;
}

/** Validates a consume request; stores call it first so both adapters refuse the same input. */
export function checkCounters(tenantId: string, counters: readonly RateLimitCounter[], tokens: number): void {
  if (typeof tenantId !== 'string' || !tenantId) throw new SpendError('spend_invalid_input', 'tenantId is required');
  if (!Number.isSafeInteger(tokens) || tokens < 0) throw new SpendError('spend_invalid_input', 'tokens must be a non-negative integer');
  for (const c of counters) {
    if (typeof c.id !== 'string' || !c.id) throw new SpendError('spend_invalid_input', `counter ${c.scope}: id is required`);
    if (!Number.isSafeInteger(c.limit) || c.limit <= 0) {
      throw new SpendError('spend_invalid_input', `counter ${c.scope}/${c.kind}: limit must be a positive integer`);
    }
  }
}

/** Validates a correction's token count (both adapters refuse the same input). */
export function checkActualTokens(actualTokens: number): void {
  if (!Number.isSafeInteger(actualTokens) || actualTokens < 0) {
    throw new SpendError('spend_invalid_input', 'actualTokens must be a non-negative integer');
  }
}

/** What one request costs a counter: one request, or its tokens. */
export function counterCost(c: RateLimitCounter, tokens: number): number {
  return c.kind === 'requests' ? 1 : tokens;
}

/** The store key of a counter, hash-tagged by tenant so one request's keys share a Redis Cluster slot. */
export function counterKey(prefix: string, tenantId: string, c: RateLimitCounter): string {
  return `${prefix}rl:{${enc(tenantId)}}:${c.scope}:${enc(c.id)}:${c.kind === 'requests' ? 'r' : 't'}`;
}

/** Encoded ids seen lately: the same tenant, app and key ids are encoded for every request they make. */
const encoded = new Map<string, string>();

/** Ids are opaque: escape the separators and the hash-tag braces. */
export function enc(id: string): string {
  let e = encoded.get(id);
  if (e === undefined) {
    e = encodeURIComponent(id);
    if (encoded.size >= 10_000) encoded.clear(); // end-user ids are unbounded; start over rather than grow
    encoded.set(id, e);
  }
  return e;
}

/**
 * OpenAI's rate-limit headers (and Retry-After) for a decision, from the most
 * constraining counter of each kind: the refusing one, else the one with least remaining.
 * Empty when the request had no counters of that kind.
 */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  // One pass, no intermediate arrays: this runs for every request with a limit.
  let requests: RateLimitCounterState | undefined;
  let tokens: RateLimitCounterState | undefined;
  for (const s of decision.states) {
    if (s.counter.kind === 'requests') requests = !requests || binds(s, requests) ? s : requests;
    else tokens = !tokens || binds(s, tokens) ? s : tokens;
  }
  const headers: Record<string, string> = {};
  if (requests) putKind(headers, 'requests', requests);
  if (tokens) putKind(headers, 'tokens', tokens);
  if (!decision.allowed) headers['retry-after'] = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
  return headers;
}

/** The three headers of one kind, from its binding counter. */
function putKind(headers: Record<string, string>, kind: 'requests' | 'tokens', s: RateLimitCounterState): void {
  headers[`x-ratelimit-limit-${kind}`] = String(s.counter.limit);
  headers[`x-ratelimit-remaining-${kind}`] = String(s.remaining);
  headers[`x-ratelimit-reset-${kind}`] = formatDuration(s.resetMs);
}

/** Whether counter state `a` constrains more than `b`: refusing first, then least remaining, then the lower limit (ties keep `b`, the first seen). */
function binds(a: RateLimitCounterState, b: RateLimitCounterState): boolean {
  if (a.exceeded !== b.exceeded) return a.exceeded;
  if (a.remaining !== b.remaining) return a.remaining < b.remaining;
  return a.counter.limit < b.counter.limit;
}

/** OpenAI's duration format: "20ms", "1s", "6m0s", "1.5s". */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const totalS = ms / 1000;
  const m = Math.floor(totalS / 60);
  const s = Math.round((totalS - m * 60) * 1000) / 1000;
  return m > 0 ? `${m}m${s}s` : `${s}s`;
}
