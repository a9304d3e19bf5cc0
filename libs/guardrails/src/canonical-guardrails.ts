import type { CanonicalContentPart, CanonicalRequest, CanonicalResponse } from '@asc/providers';
import { CompiledGuardrails, GuardrailAction, GuardrailFinding, RedactionSession } from './guardrails';

export interface CanonicalScan<T> {
  action: GuardrailAction;
  /** `value` with redactions applied (the same object when nothing was redacted). */
  value: T;
  findings: GuardrailFinding[];
  blockedBy?: string;
}

/**
 * Every text a request sends to the model, in order, with a setter that writes the
 * scanned text back into a copy: system prompts, message text parts, tool results and
 * the JSON arguments of earlier tool calls. Images, tool definitions and names are not text
 * a user typed and are left alone.
 */
function requestTexts(request: CanonicalRequest): { texts: string[]; rebuild(texts: string[]): CanonicalRequest } {
  const texts: string[] = [...request.system];
  const parts = (content: CanonicalContentPart[]) => content.forEach((p) => p.type === 'text' && texts.push(p.text));
  for (const m of request.messages) {
    if (m.role === 'system') texts.push(m.content);
    else {
      parts(m.content);
      if (m.role === 'assistant') m.toolCalls.forEach((c) => texts.push(c.argumentsJson));
    }
  }
  const rebuild = (scanned: string[]): CanonicalRequest => {
    let i = 0;
    const next = () => scanned[i++] ?? '';
    const mapParts = (content: CanonicalContentPart[]) => content.map((p) => (p.type === 'text' ? { ...p, text: next() } : p));
    const system = request.system.map(() => next());
    const messages = request.messages.map((m) => {
      if (m.role === 'system') return { ...m, content: next() };
      if (m.role === 'assistant') {
        const content = mapParts(m.content);
        return { ...m, content, toolCalls: m.toolCalls.map((c) => ({ ...c, argumentsJson: next() })) };
      }
      return { ...m, content: mapParts(m.content) };
    });
    return { ...request, system, messages };
  };
  return { texts, rebuild };
}

/** Applies the guardrails to a canonical request (before the provider is called). */
export function scanCanonicalRequest(
  guardrails: CompiledGuardrails,
  request: CanonicalRequest,
  session: RedactionSession = new RedactionSession(),
): CanonicalScan<CanonicalRequest> {
  if (!guardrails.active) return { action: 'allow', value: request, findings: [] };
  const { texts, rebuild } = requestTexts(request);
  const result = guardrails.scan(texts, session);
  const changed = result.action === 'redact' && result.texts.some((t, i) => t !== texts[i]);
  return { action: result.action, value: changed ? rebuild(result.texts) : request, findings: result.findings, blockedBy: result.blockedBy };
}

/**
 * Applies the guardrails to a complete (or collected) response; pass the request's session
 * so a value redacted in the prompt gets the same placeholder in the answer.
 */
export function scanCanonicalResponse(
  guardrails: CompiledGuardrails,
  response: CanonicalResponse,
  session: RedactionSession = new RedactionSession(),
): CanonicalScan<CanonicalResponse> {
  if (!guardrails.active) return { action: 'allow', value: response, findings: [] };
  const texts = response.content.map((b) => (b.type === 'text' ? b.text : b.argumentsJson));
  const result = guardrails.scan(texts, session);
  if (result.action !== 'redact') return { action: result.action, value: response, findings: result.findings, blockedBy: result.blockedBy };
  const content = response.content.map((b, i) =>
    b.type === 'text' ? { ...b, text: result.texts[i] ?? '' } : { ...b, argumentsJson: result.texts[i] ?? '' },
  );
  return { action: 'redact', value: { ...response, content }, findings: result.findings };
}

/** Adds `more` into `into` (findings of the request and of the response of one call). */
export function mergeFindings(into: readonly GuardrailFinding[], more: readonly GuardrailFinding[]): GuardrailFinding[] {
  const byKey = new Map(into.map((f) => [`${f.detector}\u0000${f.action}`, { ...f }]));
  for (const f of more) {
    const k = `${f.detector}\u0000${f.action}`;
    const current = byKey.get(k);
    if (current) current.count += f.count;
    else byKey.set(k, { ...f });
  }
  return [...byKey.values()];
}
