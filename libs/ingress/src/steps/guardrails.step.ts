import {
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
 * forwarded), a block is a 400 naming the detector and never the match. What each detector
 * did (detector, action, count) goes on the request event, never the matched text.
 */
export class GuardrailsStep implements RunnerStep {
  readonly name = 'guardrails';
  /** Keyed by the configuration itself: equal configurations share one compiled form. */
  private readonly compiled = new Map<string, CompiledGuardrails>();
  private readonly byObject = new WeakMap<policyV1.GuardrailConfig, CompiledGuardrails>();

  before(ctx: RequestContext): void {
    const config = ctx.decision?.guardrails;
    const chat = ctx.chat;
    if (!config || !chat) return;
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
      if (guardrails.applyToResponse && !ctx.stream) {
        // The answer is decoded, scanned with the prompt's placeholders, and re-encoded.
        // Streamed answers are not scanned yet (a match can span chunks).
        chat.forceTranslate = true;
        chat.filterResponse = (response) => {
          const scanned = scanCanonicalResponse(guardrails, response, session);
          record(ctx, scanned.findings);
          if (scanned.action === 'block') {
            throw new IngressError('guardrail_blocked', `the response was blocked by the ${scanned.blockedBy} guardrail of this tenant's policy`, 403);
          }
          return scanned.value;
        };
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

function toIngress(detector: string): IngressError {
  const error = guardrailBlockedError(detector);
  return new IngressError(error.code, error.message, error.httpStatus);
}
