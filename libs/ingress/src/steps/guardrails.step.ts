import {
  CanonicalStreamGuardrails,
  CompiledGuardrails,
  compileGuardrails,
  guardrailBlockedError,
  guardrailsFromDecision,
  mergeFindings,
  RedactionSession,
  scanCanonicalRequest,
  scanCanonicalResponse,
  type GuardrailFinding,
} from '@asc/guardrails';
import type { policyV1 } from '@asc/contracts';
import { IngressError } from '../ingress.error';
import type { RequestContext } from '../request-context';
import type { RunnerStep } from '../runner.types';

/** Compiled configurations kept (one per distinct guardrail configuration in use). */
const COMPILED_LIMIT = 1000;

/**
 * The tenant's guardrails on the prompt, before any provider is called: redaction rewrites
 * the canonical request (and forces it to be re-encoded, so the original body is never
 * forwarded), a block is a 400 naming the detector and never the match. Embeddings input
 * (strings) is scanned the same way. With `applyToResponse` the answer is scanned too: a
 * whole answer before it is encoded (a block is a 403), a streamed one event by event
 * through CanonicalStreamGuardrails (a block ends the stream with an in-band error through
 * `onOutput`, like a budget cut). What each detector did (detector, action, count) goes on
 * the request event, never the matched text.
 */
export class GuardrailsStep implements RunnerStep {
  readonly name = 'guardrails';
  /** Keyed by the configuration itself: equal configurations share one compiled form. */
  private readonly compiled = new Map<string, CompiledGuardrails>();
  private readonly byObject = new WeakMap<policyV1.GuardrailConfig, CompiledGuardrails>();
  /** Streamed answers being scanned. */
  private readonly streams = new WeakMap<RequestContext, CanonicalStreamGuardrails>();

  before(ctx: RequestContext): void {
    const config = ctx.decision?.guardrails;
    if (!config) return;
    const chat = ctx.chat;
    if (!chat) {
      if (ctx.embeddings) this.embeddings(ctx, ctx.embeddings, this.compile(config));
      return;
    }
    const guardrails = this.compile(config);
    if (!guardrails.active) return;
    let findings: GuardrailFinding[];
    if (chat.canonical) {
      const session = new RedactionSession();
      const result = scanCanonicalRequest(guardrails, chat.canonical, session);
      findings = result.findings;
      record(ctx, findings);
      if (result.action === 'block') throw toIngress(result.blockedBy ?? 'guardrail');
      if (result.value !== chat.canonical) {
        chat.canonical = result.value;
        chat.forceTranslate = true;
      }
      if (guardrails.applyToResponse) {
        // The answer is decoded, scanned with the prompt's placeholders, and re-encoded.
        chat.forceTranslate = true;
        // A whole answer: a non-streamed one, or one a step answers (a cache hit, which may
        // have been stored by an app of the tenant that does not scan answers).
        chat.filterResponse = (response) => {
          const scanned = scanCanonicalResponse(guardrails, response, session);
          record(ctx, scanned.findings);
          if (scanned.action === 'block') throw responseBlocked(scanned.blockedBy ?? 'guardrail');
          return scanned.value;
        };
        if (ctx.stream) {
          const stream = new CanonicalStreamGuardrails(guardrails, session);
          this.streams.set(ctx, stream);
          chat.filterStream = (event) => stream.push(event);
        }
      }
      return;
    }
    // A body only its own API understands (no canonical form): scan it as text; it can be
    // allowed or blocked, but not rewritten.
    const result = guardrails.scan([JSON.stringify(chat.body)]);
    record(ctx, result.findings);
    if (result.action === 'block') throw toIngress(result.blockedBy ?? 'guardrail');
    if (result.action === 'redact') {
      throw new IngressError(
        'guardrail_cannot_redact',
        `the request needs redaction by the ${result.findings.find((f) => f.action === 'redact')?.detector} guardrail but uses a feature (${chat.blocker?.param ?? 'provider-specific'}) that prevents rewriting it`,
        400,
        chat.blocker?.param ?? undefined,
      );
    }
  }

  /** A streamed answer a guardrail blocked ends here, in-band (the text before the match was sent). */
  onOutput(ctx: RequestContext): IngressError | undefined {
    const blockedBy = this.streams.get(ctx)?.blockedBy;
    return blockedBy ? responseBlocked(blockedBy) : undefined;
  }

  /** The streamed answer's findings (and a block's status) go on the request before its event. */
  settle(ctx: RequestContext): void {
    const stream = this.streams.get(ctx);
    if (!stream) return;
    this.streams.delete(ctx);
    record(ctx, stream.findings());
    // A policy decision, not a provider failure (the stream itself answered 200).
    if (stream.blockedBy && ctx.reasonCode === 'guardrail_blocked') ctx.status = 'client_error';
  }

  /**
   * Embeddings input: strings are scanned like prompts (redaction rewrites both the body and
   * the decoded request). Token-id inputs (OpenAI) cannot be read: with any guardrail that
   * redacts or blocks they are refused, since nothing could be enforced on them.
   */
  private embeddings(ctx: RequestContext, embeddings: NonNullable<RequestContext['embeddings']>, guardrails: CompiledGuardrails): void {
    if (!guardrails.active) return;
    const { body, request } = embeddings;
    if (request.input.some((i) => typeof i !== 'string')) {
      if (!guardrails.enforcing) return;
      throw new IngressError(
        'guardrail_cannot_scan',
        "'input' holds token ids, which this tenant's guardrails cannot scan: send the input as text",
        400,
        'input',
      );
    }
    const texts = request.input as string[];
    const result = guardrails.scan(texts);
    record(ctx, result.findings);
    if (result.action === 'block') throw toIngress(result.blockedBy ?? 'guardrail');
    if (result.action !== 'redact' || result.texts.every((t, i) => t === texts[i])) return;
    ctx.embeddings = {
      body: { ...body, input: request.single ? result.texts[0] : result.texts },
      request: { ...request, input: result.texts },
    };
  }

  private compile(config: policyV1.GuardrailConfig): CompiledGuardrails {
    // The cached decision hands the same object to every request until it is reloaded.
    const known = this.byObject.get(config);
    if (known) return known;
    const key = JSON.stringify(config);
    let compiled = this.compiled.get(key);
    if (!compiled) {
      if (this.compiled.size >= COMPILED_LIMIT) this.compiled.clear();
      compiled = compileGuardrails(guardrailsFromDecision(config));
      this.compiled.set(key, compiled);
    }
    this.byObject.set(config, compiled);
    return compiled;
  }
}

function record(ctx: RequestContext, findings: GuardrailFinding[]): void {
  if (!findings.length) return;
  const previous = (ctx.eventExtras.guardrails as GuardrailFinding[] | undefined) ?? [];
  ctx.eventExtras.guardrails = mergeFindings(previous, findings);
}

function responseBlocked(detector: string): IngressError {
  const error = guardrailBlockedError(detector, 'response');
  return new IngressError(error.code, error.message, 403);
}

function toIngress(detector: string): IngressError {
  const error = guardrailBlockedError(detector);
  return new IngressError(error.code, error.message, error.httpStatus);
}
