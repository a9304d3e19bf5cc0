import { policyV1 } from '@asc/contracts';
import { BuiltinDetector, BUILTIN_DETECTORS } from './detectors';
import { GuardrailAction, GuardrailsConfig } from './guardrails';

const ACTIONS: Partial<Record<policyV1.GuardrailAction, GuardrailAction>> = {
  [policyV1.GuardrailAction.GUARDRAIL_ACTION_ALLOW]: 'allow',
  [policyV1.GuardrailAction.GUARDRAIL_ACTION_REDACT]: 'redact',
  [policyV1.GuardrailAction.GUARDRAIL_ACTION_BLOCK]: 'block',
};

const isBuiltin = (d: string): d is BuiltinDetector => (BUILTIN_DETECTORS as readonly string[]).includes(d);

/**
 * The guardrails of a policy decision (DecideResponse.guardrails) as a library config. An
 * unspecified action on a rule that is present means block: an unknown value from a newer
 * policy service must fail closed, not let text through.
 */
export function guardrailsFromDecision(config: policyV1.GuardrailConfig | undefined): GuardrailsConfig {
  if (!config) return {};
  const action = (a: policyV1.GuardrailAction) => ACTIONS[a] ?? 'block';
  const detectors: Partial<Record<BuiltinDetector, GuardrailAction>> = {};
  for (const rule of config.detectors) if (isBuiltin(rule.detector)) detectors[rule.detector] = action(rule.action);
  return {
    detectors,
    medicalRecordPatterns: config.medicalRecordPatterns,
    customPatterns: config.customPatterns.map((p) => ({ name: p.name, pattern: p.pattern, action: action(p.action) })),
    denyTerms: config.denyTerms,
    denyTermsAction: action(config.denyTermsAction),
    injectionPatterns: config.injectionPatterns,
    builtinInjectionPatterns: config.builtinInjectionPatterns,
    injectionAction: action(config.injectionAction),
    applyToResponse: config.applyToResponse,
  };
}
