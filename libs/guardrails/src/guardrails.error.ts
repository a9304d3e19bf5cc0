import { DomainError } from '@asc/tenancy';

/**
 * Guardrail errors. `guardrail_blocked` names the detector and never the matched text, so
 * it is safe to return to the caller, log and put in an event.
 */
export class GuardrailsError extends DomainError {}

/** The error a blocked request answers with (the runner maps it to the caller's API shape). */
export function guardrailBlockedError(detector: string, where: 'request' | 'response' = 'request'): GuardrailsError {
  return new GuardrailsError(
    'guardrail_blocked',
    `the ${where} was blocked by the ${detector} guardrail of this tenant's policy`,
    400,
  );
}
