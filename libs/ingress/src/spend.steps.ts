import { createEvent, EVENT_BUDGET_THRESHOLD, type EventPublisher } from '@asc/events';
import { estimateRequestInputTokens, estimateTokens, type MeteredUsage } from '@asc/providers';
import {
  budgetLines,
  cacheBypassRequested,
  DEFAULT_CACHE_TTL_SECONDS,
  failureModeOf,
  pairedAdmissions,
  rateLimitCounters,
  rateLimitHeaders,
  responseCacheKey,
  SpendError,
  StreamBudgetGuard,
  type BudgetReservation,
  type BudgetStore,
  type CachedResponse,
  type RateLimitGrant,
  type RateLimitStore,
  type ResponseCache,
  type SpendAdmissions,
  type SpendPolicy,
  type ThresholdCrossing,
} from '@asc/spend';
import type { Deployment } from './control-plane.port';
import { IngressError } from './ingress.error';
import type { RequestContext } from './request-context';
import type { RunnerStep, StepAnswer } from './runner.types';
import { costUsd } from './usage';

/** The spend settings of a request (mapped from its policy decision); undefined: no limits, budgets or cache. */
export type SpendPolicyOf = (ctx: RequestContext) => SpendPolicy | undefined;

export interface SpendStepOptions {
  limits: RateLimitStore;
  budgets: BudgetStore;
  /** How a request is admitted and settled on the stores; default one call on each (pairedAdmissions). */
  admissions?: SpendAdmissions;
  events: EventPublisher;
  policyOf: SpendPolicyOf;
  /** Output tokens held for a request that sets no max_tokens (streams grow the hold as they run). Default 4096. */
  defaultMaxOutputTokens?: number;
  /** Output tokens per mid-stream extension of the hold. Default 256. */
  extendTokens?: number;
  /**
   * Called in the tick the admission leaves, so that what it sends to Redis (the response
   * cache's lookup of a known key) shares the admission's round trip when it has one.
   */
  prefetch?: (ctx: RequestContext) => void;
  onError?: (message: string) => void;
}

interface Held {
  grant: RateLimitGrant;
  reservation?: BudgetReservation;
  guard?: StreamBudgetGuard;
}

/** Marks a request the response cache answered (the spend step then charges nothing beyond the input estimate). */
export const CACHE_HIT = 'cacheHit';

/**
 * Rate limits and budgets, one step: the RPM/TPM check and the budget hold are decided
 * together before any upstream call (from this replica's slices, or one Redis script:
 * `SpendAdmissions`); over a limit is a
 * 429 with Retry-After, a maximum cost that does not fit a budget is OpenAI's 429
 * insufficient_quota (each in the caller's API shape); a stream is cut in-band when its
 * spend reaches the budget; after the request, TPM is corrected to the provider's usage
 * and the hold is settled with the exact cost (thresholds crossed become budget.threshold
 * events). x-ratelimit-* headers go on every answer.
 */
export class SpendStep implements RunnerStep {
  readonly name = 'spend';
  private readonly held = new WeakMap<RequestContext, Held>();
  private readonly admissions: SpendAdmissions;
  /** What grows a stream's hold: the admissions when they hold reservations themselves (slices), else the budget store. */
  private readonly holds: Pick<BudgetStore, 'extend'>;

  constructor(private readonly options: SpendStepOptions) {
    this.admissions = options.admissions ?? pairedAdmissions(options.limits, options.budgets);
    const extend = this.admissions.extend?.bind(this.admissions);
    this.holds = extend ? { extend } : options.budgets;
  }

  async before(ctx: RequestContext, candidates: readonly Deployment[]): Promise<void> {
    const policy = this.options.policyOf(ctx);
    const principal = ctx.principal;
    if (!policy || !principal || (ctx.operation !== 'chat.completions' && ctx.operation !== 'embeddings')) return;
    const subject = { tenantId: principal.tenantId, appId: principal.appId, keyId: principal.keyId, endUserId: ctx.endUserId, model: ctx.model };
    const counters = rateLimitCounters(policy, subject);
    const lines = budgetLines(policy.budgets, subject, Date.now());
    if (!counters.length && !lines.length) return; // e.g. a policy with the cache only: nothing to count or hold
    const inputTokens = ctx.canonical
      ? estimateRequestInputTokens(ctx.canonical) + chatFramingTokens(ctx.canonical.messages.length + (ctx.canonical.system.length ? 1 : 0))
      : estimateTokens(JSON.stringify(ctx.embeddings?.body.input ?? ctx.requestBody));
    const maxOutput = ctx.operation === 'embeddings' ? 0 : (ctx.canonical?.maxOutputTokens ?? this.options.defaultMaxOutputTokens ?? 4096);
    // The most expensive deployment of the plan: a fallback may serve the request.
    let inPrice = 0;
    let outPrice = 0;
    for (const d of candidates) {
      inPrice = Math.max(inPrice, (d.price?.inputPerMtokUsd ?? 0) / 1e6);
      outPrice = Math.max(outPrice, (d.price?.outputPerMtokUsd ?? 0) / 1e6);
    }
    const amountUsd = inputTokens * inPrice + maxOutput * outPrice;
    const failureMode = failureModeOf(policy);
    let admission;
    try {
      const admitting = this.admissions.admit(
        { tenantId: principal.tenantId, counters, tokens: inputTokens, failureMode },
        lines.length ? { tenantId: principal.tenantId, requestId: ctx.requestId, lines, amountUsd, failureMode } : undefined,
      );
      this.options.prefetch?.(ctx);
      admission = await admitting;
    } catch (err) {
      if (err instanceof SpendError && err.code === 'spend_store_unavailable') {
        throw new IngressError('spend_store_unavailable', 'limits cannot be checked right now; retry shortly', 503, undefined, '1');
      }
      throw err;
    }
    const headers = rateLimitHeaders(admission.rate);
    delete headers['retry-after']; // the runner sets it from the error
    Object.assign(ctx.responseHeaders, headers);
    if (!admission.ok) {
      if (admission.reason === 'rate_limited') {
        const retryAfter = String(Math.max(1, Math.ceil(admission.rate.retryAfterMs / 1000)));
        const kind = admission.rate.states.find((s) => s.exceeded)?.counter.kind ?? 'requests';
        const message = admission.rate.tooLarge
          ? `Request too large: it needs more ${kind} than the limit allows per minute`
          : `Rate limit reached for ${kind}; retry after ${retryAfter}s`;
        throw new IngressError('rate_limit_exceeded', message, 429, undefined, retryAfter);
      }
      const r = admission.refusedBy;
      throw new IngressError(
        'insufficient_quota',
        `the ${r.line.ref.period}ly budget of the ${r.line.ref.scope} cannot cover this request's maximum cost (${amountUsd.toFixed(6)} USD; ${r.remainingUsd.toFixed(6)} USD left)`,
        429,
      );
    }
    const held: Held = { grant: admission.rate.grant, reservation: admission.reservation };
    if (admission.reservation) {
      ctx.eventExtras.budgetReservedUsd = amountUsd;
      if (ctx.stream && outPrice > 0) {
        held.guard = new StreamBudgetGuard(this.holds, admission.reservation, {
          inputCostUsd: inputTokens * inPrice,
          outputUsdPerToken: outPrice,
          extendTokens: this.options.extendTokens,
        });
      }
    }
    this.held.set(ctx, held);
  }

  onOutput(ctx: RequestContext, usage: () => MeteredUsage): IngressError | undefined {
    const guard = this.held.get(ctx)?.guard;
    if (!guard || guard.observe(usage().outputTokens) === 'continue') return undefined;
    return new IngressError('insufficient_quota', 'the budget was exhausted while the response streamed; the output was cut here', 429);
  }

  async after(ctx: RequestContext): Promise<void> {
    const held = this.held.get(ctx);
    if (!held) return;
    this.held.delete(ctx);
    const hit = ctx.eventExtras[CACHE_HIT] === true;
    // A cache hit keeps its input estimate charged to TPM; otherwise TPM counts what the provider used.
    const tokens = hit ? held.grant.tokens : ctx.usage.inputTokens + ctx.usage.outputTokens;
    // An extension still in flight would otherwise add a hold after the settlement (held until its lease ends).
    if (held.guard?.busy) await held.guard.idle();
    const reservation = held.guard?.reservation ?? held.reservation;
    const cost = reservation && ctx.deployment && !hit ? costUsd(ctx.usage, ctx.deployment.price) : 0;
    // The TPM correction and the settlement leave together (in the slices, or one Redis script).
    const crossings = await this.admissions.settle(held.grant, tokens, reservation, cost);
    if (!reservation) return;
    // Cut at the cap: the budget is spent to within one output token, which is 100 % for the user.
    if (held.guard?.reachedBudget && ctx.deployment) {
      crossings.push(...(await this.options.budgets.markReached(reservation, held.guard.outputUsdPerToken)));
    }
    publishCrossings(this.options.events, crossings, ctx.traceparent, this.options.onError);
  }
}

/** Each threshold crossed as a budget.threshold event (the request's trace when one request crossed it). */
export function publishCrossings(events: EventPublisher, crossings: readonly ThresholdCrossing[], traceparent?: string, onError?: (message: string) => void): void {
  for (const c of crossings) {
    try {
      events.publish(
        createEvent(
          EVENT_BUDGET_THRESHOLD,
          { tenantId: c.ref.tenantId, source: 'asc-ingress', traceparent },
          { tenantId: c.ref.tenantId, scope: c.ref.scope, scopeId: c.ref.id, period: c.ref.period, periodKey: c.ref.periodKey, threshold: c.threshold, limitUsd: c.limitUsd, spentUsd: c.spentUsd },
        ),
      );
    } catch (err) {
      onError?.(`could not enqueue a budget.threshold event: ${(err as Error).message}`);
    }
  }
}

/**
 * The tokens a chat template adds around the text: per message (OpenAI counts 3, other
 * templates up to 4) and once to prime the reply (3). Left out, the hold of a short prompt
 * is below the provider's count and a budget overshoots by the difference
 * (apps/e2e/src/spend-replicas.int-spec.ts measured 4 % on one-line prompts).
 */
export function chatFramingTokens(messages: number): number {
  return 3 + 4 * messages;
}

interface Lookup {
  key: string;
  ttl: number;
  cached: Promise<CachedResponse | undefined>;
}

export interface ResponseCacheStepOptions {
  cache: ResponseCache;
  policyOf: SpendPolicyOf;
}

/**
 * The tenant's opt-in exact-match response cache for chat. A hit answers in the caller's
 * API, streamed or not, with `x-asc-cache: hit`, and is metered as a cache hit with the
 * cost it saved; `Cache-Control: no-cache` from the client bypasses it. Filled from
 * non-streamed answers that succeeded (a stream is served from the cache, not stored).
 */
export class ResponseCacheStep implements RunnerStep {
  readonly name = 'cache';
  private readonly keys = new WeakMap<RequestContext, { key: string; ttl: number }>();
  private readonly prefetched = new WeakMap<RequestContext, Lookup | 'bypass'>();

  constructor(private readonly options: ResponseCacheStepOptions) {}

  /** Starts the lookup now; `before` uses it (the spend step sends it with its admission). */
  prefetch(ctx: RequestContext): void {
    const lookup = this.lookup(ctx);
    if (lookup) this.prefetched.set(ctx, lookup);
  }

  async before(ctx: RequestContext): Promise<StepAnswer | void> {
    const lookup = this.prefetched.get(ctx) ?? this.lookup(ctx);
    this.prefetched.delete(ctx);
    if (!lookup) return;
    if (lookup === 'bypass') {
      ctx.responseHeaders['x-asc-cache'] = 'bypass';
      return;
    }
    const { key, ttl } = lookup;
    const cached = await lookup.cached;
    if (!cached) {
      this.keys.set(ctx, { key, ttl });
      ctx.responseHeaders['x-asc-cache'] = 'miss';
      return;
    }
    ctx.responseHeaders['x-asc-cache'] = 'hit';
    ctx.eventExtras[CACHE_HIT] = true;
    ctx.eventExtras.costSavedUsd = cached.usage.costUsd;
    return { response: cached.response as StepAnswer['response'] };
  }

  private lookup(ctx: RequestContext): Lookup | 'bypass' | undefined {
    const policy = this.options.policyOf(ctx);
    const canonical = ctx.canonical;
    if (!policy?.cacheEnabled || !ctx.principal || ctx.operation !== 'chat.completions' || !canonical) return undefined;
    if (cacheBypassRequested(ctx.requestHeader('cache-control'))) return 'bypass';
    const key = responseCacheKey({
      tenantId: ctx.principal.tenantId,
      modelAlias: ctx.model,
      request: canonical as unknown as Record<string, unknown>, // read, not kept
      // A policy change (e.g. new redaction rules) may change the answer.
      options: { policyId: ctx.decision?.policyId ?? '', policyVersion: ctx.decision?.policyVersion ?? 0 },
    });
    return { key, ttl: policy.cacheTtlSeconds || DEFAULT_CACHE_TTL_SECONDS, cached: this.options.cache.get(key) };
  }

  async after(ctx: RequestContext): Promise<void> {
    this.prefetched.delete(ctx);
    const pending = this.keys.get(ctx);
    if (!pending) return;
    this.keys.delete(ctx);
    const d = ctx.deployment;
    if (ctx.status !== 'ok' || !ctx.response || !d || ctx.response.finishReason === 'error') return;
    await this.options.cache.set(
      pending.key,
      { response: ctx.response, usage: { ...ctx.usage, cachedInputTokens: ctx.usage.cachedInputTokens ?? 0, reasoningTokens: ctx.usage.reasoningTokens ?? 0, costUsd: costUsd(ctx.usage, d.price) }, servedModel: d.upstreamModel, createdAtMs: Date.now() },
      pending.ttl,
    );
  }
}
