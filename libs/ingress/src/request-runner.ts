import { Inject, Injectable, Logger } from '@nestjs/common';
import { policyV1 } from '@asc/contracts';
import { createEvent, EVENT_GATEWAY_REQUEST_COMPLETED, EventPublisher } from '@asc/events';
import {
  CanonicalResponse,
  estimateRequestInputTokens,
  estimateTokens,
  OpenAICompatibleClient,
  SseEvent,
  StreamUsageTracker,
  type MeteredUsage,
  UpstreamError,
  UpstreamTarget,
  type Cancellation,
  WIRE_CODECS,
  WireApi,
} from '@asc/providers';
import { decodeEmbeddingsResponse } from '@asc/providers';
import { hashApiKey, isWellFormedApiKey } from '@asc/tenancy';
import { CONTROL_PLANE, ControlPlane, CredentialLease, Deployment } from './control-plane.port';
import { AuthThrottle } from './auth-throttle';
import { IngressError, toIngressError } from './ingress.error';
import { IngressMetrics } from './ingress.metrics';
import { EVENT_PUBLISHER, INGRESS_OPTIONS, IngressOptions, RUNNER_STEPS, UPSTREAM_CLIENT } from './ingress.tokens';
import { Attempt, RequestContext, toRequestEvent } from './request-context';
import { LoadShedder } from './resilience/load-shedder';
import { OutlierDetector } from './resilience/outlier-detector';
import { orderByWeight } from './resilience/plan-order';
import { RefusalPacer } from './resilience/refusal-pacer';
import { backoffMs, RetryBudget } from './resilience/retry-budget';
import { ResponseSink, RunnerRequest, RunnerStep } from './runner.types';
import { InboundChat, parseInboundChat, upstreamApiOf, WIRE_APIS } from './wire-apis';

const NO_CREDENTIAL: CredentialLease = { leaseId: '', credentialId: '', version: 0, secret: '', expiresAtMs: 0 };

/** Why one attempt ended, when it did not serve the request. */
class AttemptFailure extends Error {
  constructor(
    readonly reasonCode: string,
    readonly error: IngressError,
    /** Another deployment (or the same, later) may succeed: 5xx, 429, 529, connect errors, timeouts before the first byte. */
    readonly retriable: boolean,
    readonly retryAfter?: string,
  ) {
    super(error.message);
  }
}

/** A stream the runner can end from outside (drain, a step's cap) with an in-band error. */
interface LiveStream {
  stop(error: IngressError): void;
}

/**
 * The governed request, one owner from start to end: admit → authenticate → decode →
 * decide → plan → steps (guardrails, limits, budgets, cache plug in here) → walk the plan
 * (lease → call, with fallbacks, retry budget, outlier ejection, timeouts) → one outcome.
 * The request's event, metrics and response headers are derived from its context.
 */
@Injectable()
export class RequestRunner {
  private readonly logger = new Logger('RequestRunner');
  readonly outliers: OutlierDetector;
  private readonly retryBudget: RetryBudget;
  private readonly shedder: LoadShedder;
  private readonly refusals = new RefusalPacer<object>();
  private readonly live = new Set<LiveStream>();
  private inFlight = 0;
  private draining = false;
  private idle?: () => void;

  /** Repeated authentication failures per client address (per replica), see auth-throttle.ts. */
  readonly authThrottle = new AuthThrottle();

  constructor(
    @Inject(CONTROL_PLANE) readonly controlPlane: ControlPlane,
    @Inject(EVENT_PUBLISHER) private readonly events: EventPublisher,
    @Inject(UPSTREAM_CLIENT) private readonly upstream: OpenAICompatibleClient,
    @Inject(INGRESS_OPTIONS) private readonly options: IngressOptions,
    @Inject(RUNNER_STEPS) private readonly steps: RunnerStep[],
    private readonly metrics: IngressMetrics,
  ) {
    const r = options.resilience;
    this.outliers = new OutlierDetector(r.outlier);
    this.retryBudget = new RetryBudget(r.retryBudget);
    this.shedder = new LoadShedder(r.shedding);
    metrics.watchDeployments(() => this.outliers.view());
  }

  /** Runs one request to its end; never throws (failures are answered in the caller's shape). */
  async run(req: RunnerRequest, sink: ResponseSink): Promise<RequestContext> {
    const ctx = new RequestContext(req.api, req.recordApi, req.operation, req.traceparent);
    ctx.requestHeader = (name) => req.header(name);
    this.inFlight++;
    let release: (() => void) | undefined;
    const ran: RunnerStep[] = [];
    let failure: IngressError | undefined;
    try {
      if (this.draining) throw new IngressError('shutting_down', 'this gateway instance is shutting down; retry on another', 503, undefined, '1');
      await this.authenticate(ctx, req);
      if (ctx.operation !== 'models') {
        // Shed right after authentication: a refusal costs no body validation and no policy lookup.
        const admission = this.shedder.admit(ctx.principal!.tenantId);
        if (!admission.ok) {
          // A connection back before its last refusal's Retry-After is held until then: one that retries at once is paced like one that waits.
          const hold = req.connection ? this.refusals.hold(req.connection, 1) : 0;
          if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold));
          throw admission.reason === 'overloaded'
            ? new IngressError('overloaded', 'the gateway is at capacity; retry shortly', 503, undefined, '1')
            : new IngressError('tenant_over_share', 'too many concurrent requests for this tenant; retry shortly', 429, undefined, '1');
        }
        release = admission.release;
      }
      this.decode(ctx, req);
      await this.decide(ctx);
      if (ctx.operation === 'models') {
        await sink.json(200, await this.listModels(ctx), ctx.headers());
        ctx.httpStatus = 200;
        return ctx;
      }
      if (!this.events.accepting(ctx.principal!.tenantId)) {
        // The event spool is full and this tenant's loss policy is 'shed': an unmetered request is unbilled and unaudited.
        throw new IngressError('events_backlogged', 'the gateway cannot record requests right now; retry shortly', 503, undefined, '5');
      }
      const candidates = await this.plan(ctx);
      for (const step of this.steps) {
        ran.push(step);
        const shortCircuit = await step.before?.(ctx, candidates);
        if (shortCircuit) {
          await this.answerFromStep(ctx, shortCircuit.response, sink);
          return ctx;
        }
      }
      await this.walk(ctx, candidates, sink);
    } catch (err) {
      failure = toIngressError(err);
      if (sink.closed) {
        // The client left: whatever failed after that is not the provider's fault.
        ctx.status = 'cancelled';
        ctx.reasonCode = 'client_closed';
      }
      if (failure.httpStatus === 500) this.logger.error(`request ${ctx.requestId} failed unexpectedly: ${(err as Error)?.name}: ${(err as Error)?.message}`);
      this.fail(ctx, failure);
      if (!sink.started && !sink.closed) {
        const headers = ctx.headers();
        if (failure.retryAfter) headers['retry-after'] = failure.retryAfter;
        await sink.json(failure.httpStatus, WIRE_APIS[ctx.api].encodeError(failure.httpStatus, failure.code, failure.message, failure.param), headers);
      }
    } finally {
      release?.();
      // What the steps add to the outcome (findings of a streamed answer) comes first, synchronously...
      for (const step of ran) {
        try {
          step.settle?.(ctx);
        } catch (err) {
          this.logger.error(`step ${step.name} failed to settle request ${ctx.requestId}: ${(err as Error).message}`);
        }
      }
      if (sink.closed && ctx.status === 'ok' && !ctx.httpStatus) ctx.status = 'cancelled';
      if (ctx.status === 'cancelled') ctx.httpStatus = 0;
      // ...then the event goes to the spool right after the answer, before the steps' follow-up
      // I/O (budget settlement, cache write): a process killed meanwhile must not leave an
      // answered request without its event (docs/reliability.md, ingress-kill drill).
      this.finish(ctx);
      // The steps' follow-up I/O is independent (settlement, cache write): started together, it
      // leaves in one write to Redis instead of one round trip after another.
      const following: Array<Promise<void>> = [];
      for (const step of ran) {
        try {
          const io = step.after?.(ctx);
          if (io) following.push(io.catch((err: unknown) => this.afterFailed(step, ctx, err)));
        } catch (err) {
          this.afterFailed(step, ctx, err);
        }
      }
      if (following.length) await Promise.all(following);
      if (--this.inFlight === 0) this.idle?.();
    }
    return ctx;
  }

  /** Stops taking requests; waits up to `graceMs` for those in flight, then ends the remaining streams in-band. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const stop = new IngressError('shutting_down', 'the gateway is shutting down; the stream was ended before it finished', 503);
    for (const s of [...this.live]) s.stop(stop);
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5_000);
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  get isDraining(): boolean {
    return this.draining;
  }

  // --- steps of the request -----------------------------------------------------------------

  private async authenticate(ctx: RequestContext, req: RunnerRequest): Promise<void> {
    const address = req.clientAddress;
    // A client that keeps failing is answered here, before any key lookup (no cache miss, no query).
    const wait = address ? this.authThrottle.retryAfterMs(address) : 0;
    if (wait > 0) {
      throw new IngressError('too_many_auth_failures', 'too many failed authentications from this address: try again later', 429, undefined, String(Math.ceil(wait / 1000)));
    }
    const authorization = req.header('authorization');
    const key = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : req.header('x-api-key')?.trim();
    const principal = key && isWellFormedApiKey(key) ? await this.controlPlane.authenticate(hashApiKey(key)) : undefined;
    if (!principal) {
      if (address) this.authThrottle.recordFailure(address);
      if (!key) throw new IngressError('missing_api_key', 'no API key provided: send it as "Authorization: Bearer <key>" or "x-api-key: <key>"', 401);
      throw new IngressError('invalid_api_key', 'the API key is not valid', 401);
    }
    if (address) this.authThrottle.recordSuccess(address);
    // Checked here as well as by policy: a principal cached before its expiry stops on time.
    if (principal.expiresAtMs && Date.now() >= principal.expiresAtMs) {
      throw new IngressError('api_key_expired', `the API key expired at ${new Date(principal.expiresAtMs).toISOString()}`, 401);
    }
    ctx.principal = principal;
  }

  /** Validates the body in the client's API (400 names the field) and learns the model. */
  private decode(ctx: RequestContext, req: RunnerRequest): void {
    const api = WIRE_APIS[ctx.api];
    if (ctx.api === 'anthropic' && ctx.operation !== 'models') requireAnthropicVersion(req.header('anthropic-version'));
    switch (ctx.operation) {
      case 'chat.completions': {
        const chat = parseInboundChat(ctx.api, req.body);
        const beta = req.header('anthropic-beta');
        // Anthropic beta features reach an Anthropic deployment as they would reach Anthropic.
        if (ctx.api === 'anthropic' && beta) chat.providerHeaders = { 'anthropic-beta': beta };
        ctx.chat = chat;
        ctx.model = chat.model;
        ctx.stream = chat.stream;
        ctx.endUserId = endUserOf(req.header('x-asc-end-user'), chat);
        return;
      }
      case 'embeddings': {
        if (!api.embeddings) throw new IngressError('unsupported_operation', 'this API has no embeddings', 404);
        const request = api.embeddings.decode(req.body);
        ctx.embeddings = { body: req.body as Record<string, unknown>, request };
        ctx.model = request.model;
        return;
      }
      case 'count_tokens': {
        const body = req.body as { model?: unknown } | null;
        if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof body.model !== 'string' || !body.model) {
          throw new IngressError('invalid_request', "'model' is required", 400, 'model');
        }
        ctx.model = body.model;
        ctx.requestBody = body as Record<string, unknown>;
        return;
      }
      case 'models':
        return;
    }
  }

  private async decide(ctx: RequestContext): Promise<void> {
    if (ctx.operation === 'models') return;
    const decision = await this.controlPlane.decide(ctx.principal!, ctx.model, ctx.operation);
    ctx.decision = decision;
    if (decision.decision !== policyV1.Decision.DECISION_ALLOW) {
      ctx.status = 'denied';
      throw new IngressError(decision.reasonCode || 'denied', decision.reason || `model ${ctx.model} is not allowed`, 403, 'model');
    }
  }

  /** The deployments to try, in order: weighted within a priority, only those that serve the operation. */
  private async plan(ctx: RequestContext): Promise<Deployment[]> {
    const plan = await this.controlPlane.plan(ctx.principal!, ctx.model, ctx.decision!.allowedRegions, ctx.operation);
    ctx.routingVersion = Number(plan.configVersion) || 0;
    const serving = plan.deployments.filter((d) => servesOperation(d, ctx.operation));
    if (!serving.length) {
      if (plan.deployments.length && ctx.operation === 'embeddings') {
        throw new IngressError('unsupported_operation', `the model ${ctx.model} is served by ${plan.deployments[0].provider}, which has no embeddings API`, 400, 'model');
      }
      if (plan.deployments.length && ctx.operation === 'count_tokens') {
        throw new IngressError(
          'unsupported_operation',
          `the model ${ctx.model} is served by ${plan.deployments[0].provider}, which cannot count tokens exactly; count_tokens needs an Anthropic deployment`,
          400,
          'model',
        );
      }
      throw new IngressError('model_not_found', `the model ${ctx.model} does not exist or has no deployment in the regions allowed to you`, 404, 'model');
    }
    return orderByWeight(serving, ctx.chat?.canonical?.user);
  }

  /**
   * Tries the plan's deployments in order until one serves: on a retriable failure before
   * the first byte reached the client, the next one is tried (translating if its API
   * differs), within the retry budget; ejected deployments are skipped unless all are.
   */
  private async walk(ctx: RequestContext, candidates: Deployment[], sink: ResponseSink): Promise<void> {
    const r = this.options.resilience;
    let admitted = candidates.filter((d) => this.outliers.admit(d.id) !== 'no');
    // Panic mode (Envoy): every deployment ejected — try them anyway rather than fail closed.
    if (!admitted.length) admitted = candidates;
    // A single deployment gets retried on itself; a plan walks its deployments.
    const tries = admitted.length === 1 ? Array<Deployment>(r.maxAttempts).fill(admitted[0]) : admitted.slice(0, r.maxAttempts);
    let last: AttemptFailure | undefined;
    for (let i = 0; i < tries.length; i++) {
      const deployment = tries[i];
      if (last) {
        if (sink.closed) break;
        if (!this.retryBudget.tryAcquire(tries[i - 1].id)) {
          this.metrics.retryRefused(tries[i - 1].id);
          break;
        }
        if (deployment === tries[i - 1]) await sleep(backoffMs(i - 1, r.backoffBaseMs, r.backoffMaxMs, last.retryAfter));
      }
      // The budget is a share of original requests: retries do not earn more retries.
      if (!last) this.retryBudget.recordRequest(deployment.id);
      ctx.deployment = deployment;
      const attempt: Attempt = { deploymentId: deployment.id, provider: deployment.provider, region: deployment.region, status: 'pending', reasonCode: '', latencyMs: 0 };
      ctx.attempts.push(attempt);
      const t = performance.now();
      try {
        await this.attempt(ctx, deployment, sink);
        Object.assign(attempt, { status: 'ok', latencyMs: round2(performance.now() - t) });
        this.outliers.success(deployment.id);
        return;
      } catch (err) {
        const f = err instanceof AttemptFailure ? err : new AttemptFailure(toIngressError(err).code, toIngressError(err), false);
        Object.assign(attempt, { status: 'failed', reasonCode: f.reasonCode, latencyMs: round2(performance.now() - t) });
        if (f.retriable) this.outliers.failure(deployment.id);
        else this.outliers.release(deployment.id);
        if (!f.retriable || sink.started || sink.closed) throw f.error;
        last = f;
      }
    }
    throw last?.error ?? new IngressError('upstream_error', 'no deployment could serve the request', 502);
  }

  /** One deployment: lease its credential, call it with its timeouts, answer the client. */
  private async attempt(ctx: RequestContext, deployment: Deployment, sink: ResponseSink): Promise<void> {
    const upstreamApi = upstreamApiOf(deployment.provider);
    // A self-hosted model without a key (local vLLM, Ollama) has no credential to lease.
    const lease = deployment.credentialId ? await this.controlPlane.lease(ctx.principal!, deployment.credentialId, deployment.id) : NO_CREDENTIAL;
    ctx.credentialId = deployment.credentialId;
    ctx.credentialVersion = lease.version;
    const call = new UpstreamCall(this.options, deployment, lease, upstreamApi, ctx.traceparent, sink);
    try {
      switch (ctx.operation) {
        case 'chat.completions':
          if (ctx.stream) await this.stream(ctx, call, sink);
          else await this.completeJson(ctx, call, sink);
          return;
        case 'embeddings':
          return await this.embed(ctx, call, sink);
        case 'count_tokens':
          return await this.countTokens(ctx, call, sink);
        default:
          throw new IngressError('internal_error', `operation ${ctx.operation} has no upstream call`, 500);
      }
    } catch (err) {
      throw call.classify(err);
    } finally {
      call.dispose();
    }
  }

  private async completeJson(ctx: RequestContext, call: UpstreamCall, sink: ResponseSink): Promise<void> {
    const chat = ctx.chat!;
    const passthrough = WIRE_APIS[chat.api].native === call.upstreamApi && !chat.forceTranslate;
    const codec = WIRE_CODECS[call.upstreamApi];
    const response = await this.upstream.postJson(call.target, codec.chatPath, upstreamChatBody(ctx, call, passthrough), call.options(passthrough ? chat.providerHeaders : undefined, false));
    let decoded: CanonicalResponse | undefined;
    try {
      decoded = codec.decodeResponse(response.body);
    } catch (err) {
      // Passthrough still answers the client; only the metering is lost, and said so.
      if (!passthrough) throw err;
      this.logger.warn(`request ${ctx.requestId}: cannot read usage from the ${call.upstreamApi} response: ${(err as Error).message}`);
    }
    if (decoded) ctx.meter(decoded.usage, false);
    if (decoded && chat.filterResponse) decoded = chat.filterResponse(decoded);
    ctx.response = decoded;
    const body = passthrough ? response.text : WIRE_APIS[chat.api].encodeResponse(decoded as CanonicalResponse, chat);
    ctx.httpStatus = 200;
    await sink.json(200, body, ctx.headers());
  }

  /**
   * Streams a chat request in the client's own API. Upstream events are always decoded
   * (usage, time to first token, a clean end) and re-encoded only when the APIs differ.
   * Nothing reaches the client before the first token: until then a failure can still fall
   * back to the next deployment.
   */
  private async stream(ctx: RequestContext, call: UpstreamCall, sink: ResponseSink): Promise<void> {
    const chat = ctx.chat!;
    const passthrough = WIRE_APIS[chat.api].native === call.upstreamApi && !chat.forceTranslate;
    const codec = WIRE_CODECS[call.upstreamApi];
    const events = await this.upstream.postStream(call.target, codec.chatPath, upstreamChatBody(ctx, call, passthrough), call.options(passthrough ? chat.providerHeaders : undefined, true));
    const decoder = codec.streamDecoder();
    // Translates when the APIs differ; in passthrough it only ever reports a failure.
    const encoder = WIRE_APIS[chat.api].streamEncoder(chat);
    const canonical = chat.canonical;
    let inputEstimate: number | undefined;
    const tracker = new StreamUsageTracker(() =>
      (inputEstimate ??= canonical ? estimateRequestInputTokens(canonical) : estimateTokens(JSON.stringify(chat.body.messages ?? chat.body.input ?? ''))),
    );
    const usageSoFar = () => tracker.usage();
    const hideUsage = passthrough && chat.api === 'openai' && !chat.streamUsage;
    const filter = chat.filterStream; // a step's view of the events (guardrails on responses)
    let held = '';
    let firstToken = false;
    let failure: { code: string } | undefined;
    const write = (text: string) => {
      if (!text || sink.closed) return;
      if (!firstToken) {
        held += text; // held back until the first token: a failure before it may still fall back
        return;
      }
      const opening = !sink.started;
      if (opening) sink.openStream(ctx.headers());
      if (held) {
        sink.write(held);
        held = '';
      }
      sink.write(text);
      // A provider's read often carries many events (all of them from a fast one): the first
      // token goes out now, not once the whole read is translated.
      if (opening) sink.flush?.();
    };
    const live: LiveStream = { stop: (error) => call.stop(error) };
    this.live.add(live);
    // What one read of the provider's socket brought goes to the client in one write, except
    // the first token, which leaves at once (write flushes when it opens the stream).
    let pending = '';
    const sendPending = () => {
      write(pending);
      pending = '';
    };
    try {
      reads: for await (const read of events) {
        call.activity();
        for (const sse of read) {
          let out = '';
          let usageReported = false;
          let produced = false;
          const hadToken = firstToken;
          for (const ev of decoder.push(sse)) {
            tracker.observe(ev);
            if (ev.type === 'usage') usageReported = true;
            else if (ev.type !== 'start') produced = true;
            if (!firstToken && (ev.type === 'text_delta' || ev.type === 'tool_call_start' || ev.type === 'finish')) {
              firstToken = true;
              call.firstToken();
              if (ev.type !== 'finish') ctx.ttftMs = ctx.elapsedMs();
            }
            if (ev.type === 'error') {
              if (!firstToken) throw new UpstreamError('http', `upstream stream failed: ${ev.code}`, ev.status >= 400 ? ev.status : 502, ev.message);
              failure ??= { code: ev.code };
            }
            if (passthrough) continue;
            if (filter) for (const e of filter(ev)) out += encoder.push(e);
            else out += encoder.push(ev);
          }
          if (passthrough) out = hideUsage && usageReported ? withoutUsage(sse, produced) : rawEvent(sse);
          pending += out;
          if (firstToken && !hadToken) sendPending();
          const stop = call.stoppedWith ?? (this.steps.length ? this.checkProgress(ctx, usageSoFar) : undefined);
          if (stop) {
            call.stop(stop);
            throw stop; // events already read must not reach the client after a stop
          }
          if (decoder.done) break reads;
        }
        sendPending();
        const backlog = sink.drained?.();
        if (backlog) await backlog;
      }
      sendPending();
    } catch (err) {
      // Before the first token the attempt fails as a whole (and may fall back).
      if (!firstToken) throw err;
      sendPending(); // the events of the read up to the failure (or to the stop) came first
      if (!sink.closed) {
        const error = call.stoppedWith ?? call.classify(err).error;
        failure ??= { code: call.stoppedWith ? error.code : call.classify(err).reasonCode };
        write(encoder.push({ type: 'error', status: error.httpStatus, code: error.code, message: error.message }));
      }
    } finally {
      this.live.delete(live);
    }
    if (!firstToken && !decoder.done && !sink.closed) throw new UpstreamError('protocol', 'the upstream stream ended before it produced anything');
    firstToken = true;
    const usage = tracker.usage();
    ctx.meter(usage, usage.estimated);
    if (sink.closed && !decoder.done) {
      ctx.status = 'cancelled';
      ctx.reasonCode = 'client_closed';
      return;
    }
    if (!failure && !decoder.done) {
      // The upstream closed the stream without finishing it: say so in the client's shape.
      failure = { code: 'upstream_incomplete' };
      if (passthrough) write(encoder.push({ type: 'error', status: 502, code: 'upstream_incomplete', message: 'the upstream stream ended before it finished' }));
    }
    if (!passthrough) write(encoder.end());
    if (failure) {
      ctx.status = 'upstream_error';
      ctx.reasonCode = failure.code;
    }
    ctx.httpStatus = 200;
    if (!sink.started) sink.openStream(ctx.headers());
    if (held) sink.write(held);
    sink.end();
  }

  /** Asks the steps whether the stream may go on (e.g. a budget reached mid-stream). */
  private checkProgress(ctx: RequestContext, usageSoFar: () => MeteredUsage): IngressError | undefined {
    for (const step of this.steps) {
      const stop = step.onOutput?.(ctx, usageSoFar);
      if (stop) return stop;
    }
    return undefined;
  }

  private async embed(ctx: RequestContext, call: UpstreamCall, sink: ResponseSink): Promise<void> {
    const { body: inbound, request } = ctx.embeddings!;
    const wire = WIRE_APIS[ctx.api].embeddings!;
    if (call.upstreamApi === 'anthropic') {
      throw new IngressError('unsupported_operation', `the model ${request.model} is served by Anthropic, which has no embeddings API`, 400, 'model');
    }
    const model = call.deployment.upstreamModel;
    const passthrough = ctx.api === call.upstreamApi;
    const body = passthrough ? { ...inbound, model } : WIRE_APIS[call.upstreamApi].embeddings!.encodeRequest(request, model);
    const response = await this.upstream.postJson(call.target, '/embeddings', body, call.options(undefined, false));
    const decoded = decodeEmbeddingsResponse(response.body);
    ctx.meter({ inputTokens: decoded.inputTokens, outputTokens: 0 }, false);
    ctx.httpStatus = 200;
    await sink.json(200, passthrough ? response.text : wire.encodeResponse(decoded, request.model), ctx.headers());
  }

  /** Anthropic's token counting, forwarded to an Anthropic deployment (others have no exact count to offer). */
  private async countTokens(ctx: RequestContext, call: UpstreamCall, sink: ResponseSink): Promise<void> {
    const response = await this.upstream.postJson(call.target, '/messages/count_tokens', { ...ctx.requestBody, model: call.deployment.upstreamModel }, call.options(undefined, false));
    ctx.httpStatus = 200;
    await sink.json(200, response.text, ctx.headers());
  }

  /** The models this principal may call, in the caller's API shape. */
  private async listModels(ctx: RequestContext): Promise<Record<string, unknown>> {
    const principal = ctx.principal!;
    const routable = await this.controlPlane.listModels(principal);
    const decisions = await Promise.all(routable.map((m) => this.controlPlane.decide(principal, m.model, 'chat.completions')));
    const usable = routable.filter((m, i) => {
      const d = decisions[i];
      if (d.decision !== policyV1.Decision.DECISION_ALLOW) return false;
      return d.allowedRegions.includes('*') || m.regions.some((r) => d.allowedRegions.includes(r));
    });
    return WIRE_APIS[ctx.api].encodeModelList(usable, principal.tenantId);
  }

  /** A step answered (a cache hit): the client gets it in its own API, streamed or not. */
  private async answerFromStep(ctx: RequestContext, answer: CanonicalResponse, sink: ResponseSink): Promise<void> {
    const chat = ctx.chat;
    if (!chat) throw new IngressError('internal_error', 'a step answered a request that is not a chat', 500);
    const response = chat.filterResponse ? chat.filterResponse(answer) : answer; // guardrails on answers apply to a cached one too
    ctx.httpStatus = 200;
    if (!chat.stream) {
      await sink.json(200, WIRE_APIS[chat.api].encodeResponse(response, chat), ctx.headers());
      return;
    }
    const encoder = WIRE_APIS[chat.api].streamEncoder(chat);
    sink.openStream(ctx.headers());
    for (const ev of responseAsStream(response)) sink.write(encoder.push(ev));
    sink.write(encoder.end());
    sink.end();
  }

  private fail(ctx: RequestContext, error: IngressError): void {
    if (ctx.status === 'cancelled') return;
    ctx.httpStatus = error.httpStatus;
    ctx.reasonCode = error.code;
    if (ctx.status === 'denied') return;
    ctx.status = error.httpStatus >= 500 || error.code.startsWith('upstream') || error.code.startsWith('timeout') ? 'upstream_error' : 'client_error';
  }

  private afterFailed(step: RunnerStep, ctx: RequestContext, err: unknown): void {
    this.logger.error(`step ${step.name} failed after request ${ctx.requestId}: ${(err as Error).message}`);
  }

  /** Emits the request's one event (when a tenant is known) and its metrics. */
  private finish(ctx: RequestContext): void {
    const event = toRequestEvent(ctx);
    this.metrics.observe(event);
    if (!event.tenantId) return; // unauthenticated: nothing to attribute, counted in metrics only
    try {
      this.events.publish(createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId: event.tenantId, source: 'asc-ingress', traceparent: ctx.traceparent }, event));
    } catch (err) {
      this.logger.error(`could not enqueue the event of request ${ctx.requestId}: ${(err as Error).message}`);
    }
  }
}

/**
 * One call to one deployment with its timeouts: connect, time to first byte/token, idle
 * gap between chunks, total. Each ends in a reason code the event carries.
 */
class UpstreamCall {
  readonly target: UpstreamTarget;
  /** Created only for streamed calls (undici's stream API takes a signal); JSON calls take the call itself as their cancellation. */
  private controller?: AbortController;
  private cancelled = false;
  private readonly cancelListeners: Array<() => void> = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private timedOut?: 'timeout_ttft' | 'timeout_total' | 'timeout_idle';
  private idleTimer?: NodeJS.Timeout;
  stoppedWith?: IngressError;
  private readonly limits: { connectMs: number; ttftMs: number; idleMs: number; totalMs: number };

  constructor(
    options: IngressOptions,
    readonly deployment: Deployment,
    lease: CredentialLease,
    readonly upstreamApi: WireApi,
    private readonly traceparent: string | undefined,
    sink: ResponseSink,
  ) {
    this.target = { baseUrl: deployment.baseUrl, apiKey: lease.secret, auth: upstreamApi === 'anthropic' ? 'anthropic' : 'bearer' };
    const own = deployment.timeouts;
    const d = options.resilience.timeouts;
    this.limits = {
      connectMs: own?.connectMs || d.connectMs,
      ttftMs: own?.ttftMs || d.ttftMs,
      idleMs: own?.idleMs || d.idleMs,
      totalMs: own?.totalMs || d.totalMs,
    };
    sink.onClose(() => this.cancel());
    this.arm('timeout_total', this.limits.totalMs);
    this.arm('timeout_ttft', this.limits.ttftMs);
  }

  options(providerHeaders: Record<string, string> | undefined, stream: boolean) {
    return {
      ...(stream ? { signal: this.signal() } : { cancel: this as Cancellation }),
      connectTimeoutMs: this.limits.connectMs,
      headersTimeoutMs: this.limits.ttftMs,
      bodyTimeoutMs: stream ? this.limits.idleMs : this.limits.ttftMs,
      headers: this.traceparent ? { ...providerHeaders, traceparent: this.traceparent } : providerHeaders,
    };
  }

  /** The first token arrived: the TTFT clock stops and the idle clock starts. */
  firstToken(): void {
    clearTimeout(this.timers[1]);
    this.idleTimer = this.arm('timeout_idle', this.limits.idleMs);
  }

  /** A chunk arrived: the idle clock starts over (undici's own timers tick too coarsely for sub-second gaps). */
  activity(): void {
    this.idleTimer?.refresh();
  }

  /** Ends the call from outside (drain, a step's cap). */
  stop(error: IngressError): void {
    this.stoppedWith ??= error;
    this.cancel();
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
  }

  get aborted(): boolean {
    return this.cancelled;
  }

  onAbort(listener: () => void): () => void {
    this.cancelListeners.push(listener);
    return () => {
      const i = this.cancelListeners.indexOf(listener);
      if (i !== -1) this.cancelListeners.splice(i, 1);
    };
  }

  /** Ends the upstream call: timeouts, a client that left, a stop from outside. */
  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.controller?.abort();
    for (const l of this.cancelListeners.splice(0)) l();
  }

  private signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.cancelled) this.controller.abort();
    return this.controller.signal;
  }

  /** Why the call failed, and whether another attempt may help. */
  classify(err: unknown): AttemptFailure {
    if (err instanceof AttemptFailure) return err;
    if (this.stoppedWith) return new AttemptFailure(this.stoppedWith.code, this.stoppedWith, false);
    if (this.timedOut) {
      const what = { timeout_ttft: 'the first token in time', timeout_total: 'the whole response in time', timeout_idle: 'the next chunk in time: the stream stalled' }[this.timedOut];
      return new AttemptFailure(this.timedOut, new IngressError(this.timedOut, `the provider did not deliver ${what}`, 504), true);
    }
    const error = toIngressError(err);
    if (err instanceof UpstreamError) {
      switch (err.failure) {
        case 'connect':
          return new AttemptFailure('connect_error', error, true);
        case 'timeout':
          return new AttemptFailure(err.phase === 'connect' ? 'timeout_connect' : err.phase === 'body' ? 'timeout_idle' : 'timeout_ttft', error, true);
        case 'protocol':
          return new AttemptFailure('upstream_protocol', error, true);
        case 'aborted':
          return new AttemptFailure('client_closed', error, false);
        case 'http': {
          const s = err.status ?? 502;
          const retriable = s >= 500 || s === 429 || s === 529 || s === 408;
          return new AttemptFailure(`upstream_${s}`, error, retriable, err.retryAfter);
        }
      }
    }
    return new AttemptFailure(error.code, error, false);
  }

  private arm(reason: 'timeout_ttft' | 'timeout_total' | 'timeout_idle', ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timedOut = reason;
      this.cancel();
    }, ms).unref();
    this.timers.push(timer);
    return timer;
  }
}

function servesOperation(d: Deployment, operation: string): boolean {
  if (d.operations?.length) return d.operations.includes(operation);
  // Deployments without a declared list: what their provider's API offers.
  if (operation === 'embeddings') return d.provider !== 'anthropic';
  if (operation === 'count_tokens') return d.provider === 'anthropic';
  return true;
}

function upstreamChatBody(ctx: RequestContext, call: UpstreamCall, passthrough: boolean): Record<string, unknown> {
  const chat = ctx.chat!;
  const model = call.deployment.upstreamModel;
  if (!passthrough) {
    if (!chat.canonical) throw chat.blocker ?? new IngressError('invalid_request', 'the request cannot be translated', 400);
    return WIRE_CODECS[call.upstreamApi].encodeRequest({ ...chat.canonical, stream: chat.stream }, model);
  }
  const body: Record<string, unknown> = { ...chat.body, model };
  if (call.upstreamApi === 'openai') {
    // Usage is always requested upstream so it is metered exactly; withoutUsage hides it from a client that did not ask.
    if (chat.stream) body.stream_options = { ...((chat.body.stream_options as object | null) ?? {}), include_usage: true };
    else delete body.stream_options;
  }
  return body;
}

/**
 * The end user a request is attributed to. Precedence (docs/architecture.md): the
 * `x-asc-end-user` header — set by the tenant's own backend, which knows who its user is —
 * then the body's OpenAI chat/Responses `user` or Anthropic `metadata.user_id`, which the
 * end user's client may have chosen. '' when none is given.
 */
function endUserOf(header: string | undefined, chat: InboundChat): string {
  const fromHeader = header?.trim();
  if (fromHeader) {
    if (fromHeader.length > 256) throw new IngressError('invalid_end_user', 'x-asc-end-user: must be at most 256 characters', 400, 'x-asc-end-user');
    return fromHeader;
  }
  const body = chat.body as { user?: unknown; metadata?: { user_id?: unknown } };
  const fromBody = chat.canonical?.user ?? (typeof body.user === 'string' ? body.user : typeof body.metadata?.user_id === 'string' ? body.metadata.user_id : '');
  return fromBody.slice(0, 256);
}

/** Anthropic's API refuses a request without a version; its SDKs always send one. */
function requireAnthropicVersion(version: string | undefined): void {
  if (!version) throw new IngressError('missing_anthropic_version', 'anthropic-version: header is required', 400);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(version)) throw new IngressError('invalid_anthropic_version', `anthropic-version: ${version.slice(0, 40)} is not a valid version`, 400);
}

/** A whole response replayed as stream events (a cached answer to a streamed request). */
function* responseAsStream(res: CanonicalResponse) {
  yield { type: 'start' as const, id: res.id, model: res.model };
  let index = 0;
  for (const block of res.content) {
    if (block.type === 'text') yield { type: 'text_delta' as const, text: block.text };
    else {
      yield { type: 'tool_call_start' as const, index, id: block.id, name: block.name };
      yield { type: 'tool_call_delta' as const, index, argumentsDelta: block.argumentsJson };
      index++;
    }
  }
  yield { type: 'finish' as const, reason: res.finishReason };
  yield { type: 'usage' as const, usage: res.usage };
}

/** One upstream SSE event as the client gets it when both speak the same API. */
function rawEvent(sse: SseEvent): string {
  return sse.event ? `event: ${sse.event}\ndata: ${sse.data}\n\n` : `data: ${sse.data}\n\n`;
}

/**
 * An OpenAI chunk carrying usage the client did not ask for (ingress always asks, to meter):
 * the usage-only chunk is dropped, usage is stripped from a chunk that also carries output.
 */
function withoutUsage(sse: SseEvent, produced: boolean): string {
  if (!produced) return '';
  const chunk = JSON.parse(sse.data) as { usage?: unknown };
  delete chunk.usage;
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
