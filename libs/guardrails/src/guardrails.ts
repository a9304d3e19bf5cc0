import { BuiltinDetector, BUILTIN_DETECTORS, BUILTIN_INJECTION_MAX_LENGTH, BUILTIN_INJECTION_PATTERNS, DEFAULT_MRN_MAX_LENGTH, DEFAULT_MRN_PATTERN, DETECTOR_SPECS, DetectorSpec } from './detectors';
import { GuardrailsError } from './guardrails.error';

export type GuardrailAction = 'allow' | 'redact' | 'block';

/** The guardrails of one request, as the policy decision hands them over. */
export interface GuardrailsConfig {
  /** Action per built-in detector; a detector not named is off. */
  detectors?: Partial<Record<BuiltinDetector, GuardrailAction>>;
  /** Replace the built-in medical record number shape (regex sources, case-insensitive). */
  medicalRecordPatterns?: readonly string[];
  customPatterns?: ReadonlyArray<{ name: string; pattern: string; action: GuardrailAction }>;
  /** Matched case-insensitively as whole words. */
  denyTerms?: readonly string[];
  denyTermsAction?: GuardrailAction;
  /** Tenant prompt-injection patterns (regex sources, case-insensitive). */
  injectionPatterns?: readonly string[];
  /** Also apply ASC's own injection phrasings (BUILTIN_INJECTION_PATTERNS). */
  builtinInjectionPatterns?: boolean;
  injectionAction?: GuardrailAction;
  /** The runner should scan the provider's response too. */
  applyToResponse?: boolean;
}

/** What a detector did in one request: never the matched text. */
export interface GuardrailFinding {
  detector: string;
  action: GuardrailAction;
  count: number;
}

export interface ScanResult {
  /** The strictest action taken: block > redact > allow (allow also when nothing matched). */
  action: GuardrailAction;
  /** The texts with redactions applied (the same array contents when nothing was redacted). */
  texts: string[];
  findings: GuardrailFinding[];
  /** The detector of the first blocking match (only when action = 'block'). */
  blockedBy?: string;
}

/** @internal */
export interface Rule {
  detector: string;
  action: GuardrailAction;
  label: string;
  spec?: DetectorSpec;
}

/**
 * Longest matches a streamed answer relies on for patterns other than the detectors (whose
 * bounds are DetectorSpec.maxLength). Tenant regexes are not analysed: they get a fixed bound
 * (docs/architecture.md, "Guardrails on streamed answers"), and a match longer than its
 * bound may be missed when it is split across chunks of a stream.
 */
export const STREAM_MAX_MATCH = {
  /** ASC's prompt-injection phrasings (bounded in their sources: the longest match is 94 characters). */
  builtinInjection: BUILTIN_INJECTION_MAX_LENGTH,
  /** Tenant-written regexes: custom patterns, injection patterns, medical record shapes. */
  tenantPattern: 128,
} as const;

/** How much of a text's tail one pattern needs to see before its matches are final. */
export interface HoldRule {
  maxLength: number;
  /** 1 for each ASCII code a match can contain (from DetectorSpec.chars); absent: any character. */
  chars?: Uint8Array;
}

function asciiTable(chars: RegExp): Uint8Array {
  const table = new Uint8Array(128);
  for (let c = 0; c < 128; c++) if (chars.test(String.fromCharCode(c))) table[c] = 1;
  return table;
}

/** @internal */
export interface Span {
  /** Where the regex matched (before `start` when a label precedes the value). */
  matchStart: number;
  start: number;
  end: number;
  rule: Rule;
  value: string;
}

const STRICTNESS: Record<GuardrailAction, number> = { allow: 0, redact: 1, block: 2 };
const LABELS: Record<BuiltinDetector, string> = {
  email: 'EMAIL',
  phone: 'PHONE',
  us_ssn: 'SSN',
  credit_card: 'CREDIT_CARD',
  iban: 'IBAN',
  ip_address: 'IP_ADDRESS',
  date_of_birth: 'DATE_OF_BIRTH',
  medical_record_number: 'MRN',
};
export const DENY_TERM_DETECTOR = 'deny_term';
export const INJECTION_DETECTOR = 'prompt_injection';

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Placeholders of one request: the same value gets the same placeholder in every text of
 * the request (and in its response, when the runner passes the same session), numbered per
 * type in order of first appearance. Holds the values in memory for the request's life only.
 */
export class RedactionSession {
  private readonly byValue = new Map<string, string>();
  private readonly counters = new Map<string, number>();

  placeholder(label: string, normalized: string): string {
    const key = `${label}\u0000${normalized}`;
    let p = this.byValue.get(key);
    if (!p) {
      const n = (this.counters.get(label) ?? 0) + 1;
      this.counters.set(label, n);
      p = `[${label}_${n}]`;
      this.byValue.set(key, p);
    }
    return p;
  }
}

function compileRegex(source: string, flags: string, what: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (err) {
    throw new GuardrailsError('guardrail_pattern_invalid', `${what} is not a valid regular expression: ${(err as Error).message}`, 400);
  }
}

/**
 * A compiled configuration: built once per policy version and reused for every request.
 * `scan` is pure apart from the session it is given.
 */
export class CompiledGuardrails {
  /** False when nothing is configured: the runner can skip the step entirely. */
  readonly active: boolean;
  readonly applyToResponse: boolean;
  /**
   * ASC's own patterns (built-in detectors, deny terms, injection phrasings), written in
   * lower case: run case-sensitively over the lower-cased text (`lower`), or with the `i`
   * flag over the text itself when lower-casing changed its length (a few Unicode letters).
   * One regex per detector: V8 runs these faster than one alternation of all of them
   * (measured in docs/benchmarks.md).
   */
  private readonly builtin: Array<{ rule: Rule; lower: RegExp; ci: RegExp }> = [];
  /** Tenant-written patterns, run over the text as written (they may be case-sensitive). */
  private readonly tenant: Array<{ regex: RegExp; rule: Rule }> = [];
  /** Per pattern, the tail of a streamed text it needs before its matches are final. */
  readonly holdRules: HoldRule[] = [];
  /** Some pattern redacts or blocks (an input that cannot be scanned must then be refused). */
  readonly enforcing: boolean;

  constructor(config: GuardrailsConfig) {
    this.applyToResponse = config.applyToResponse === true;
    const addBuiltin = (rule: Rule, source: string, maxLength: number) => {
      this.builtin.push({ rule, lower: compileRegex(source, 'g', rule.detector), ci: compileRegex(source, 'gi', rule.detector) });
      this.holdRules.push({ maxLength, chars: rule.spec?.chars ? asciiTable(rule.spec.chars) : undefined });
    };
    const addTenant = (regex: RegExp, rule: Rule) => {
      this.tenant.push({ regex, rule });
      this.holdRules.push({ maxLength: STREAM_MAX_MATCH.tenantPattern });
    };
    for (const detector of BUILTIN_DETECTORS) {
      const action = config.detectors?.[detector];
      if (!action) continue;
      const rule: Rule = { detector, action, label: LABELS[detector] };
      if (detector === 'medical_record_number') {
        const patterns = config.medicalRecordPatterns?.length ? config.medicalRecordPatterns : null;
        if (patterns) patterns.forEach((p, i) => addTenant(compileRegex(p, 'gi', `medicalRecordPatterns[${i}]`), rule));
        else addBuiltin(rule, DEFAULT_MRN_PATTERN, DEFAULT_MRN_MAX_LENGTH);
        continue;
      }
      const specs = DETECTOR_SPECS[detector];
      for (const spec of Array.isArray(specs) ? specs : [specs]) addBuiltin({ ...rule, spec }, spec.source, spec.maxLength);
    }
    const terms = (config.denyTerms ?? []).map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0);
    if (terms.length) {
      // Longest first so "project x ray" wins over "project x".
      const sorted = [...new Set(terms)].sort((a, b) => b.length - a.length).map(escapeRegex);
      addBuiltin(
        { detector: DENY_TERM_DETECTOR, action: config.denyTermsAction ?? 'block', label: 'DENY_TERM' },
        `(?<![a-z0-9_])(?:${sorted.join('|')})(?![a-z0-9_])`,
        sorted[0].length,
      );
    }
    const injection: Rule = { detector: INJECTION_DETECTOR, action: config.injectionAction ?? 'block', label: 'PROMPT_INJECTION' };
    if (config.builtinInjectionPatterns) {
      addBuiltin(injection, BUILTIN_INJECTION_PATTERNS.map((p) => `(?:${p})`).join('|'), STREAM_MAX_MATCH.builtinInjection);
    }
    (config.injectionPatterns ?? []).forEach((p, i) => addTenant(compileRegex(p, 'gi', `injectionPatterns[${i}]`), injection));
    for (const c of config.customPatterns ?? []) {
      addTenant(compileRegex(c.pattern, 'gu', `customPatterns ${c.name}`), { detector: c.name, action: c.action, label: c.name.toUpperCase() });
    }
    this.active = this.builtin.length > 0 || this.tenant.length > 0;
    this.enforcing = [...this.builtin, ...this.tenant].some((r) => r.rule.action !== 'allow');
  }

  /**
   * Scans texts (one request's text parts), applying each detector's action. A block stops
   * the scan at the first text that blocks; findings count matches, never keep them.
   */
  scan(texts: readonly string[], session: RedactionSession = new RedactionSession()): ScanResult {
    if (!this.active) return { action: 'allow', texts: [...texts], findings: [] };
    const tally = new FindingTally();
    const out: string[] = [];
    for (const text of texts) {
      const spans = this.find(text);
      out.push(spans.length ? applySpans(text, spans, 0, text.length, session, tally) : text);
      if (tally.blockedBy) break;
    }
    const findings = tally.findings();
    if (tally.blockedBy) return { action: 'block', texts: [...texts], findings, blockedBy: tally.blockedBy };
    return { action: tally.action, texts: out, findings };
  }

  /** Where each detector matched in `text` (offsets only; for measurements and tests). */
  detect(text: string): Array<{ detector: string; start: number; end: number }> {
    return this.find(text).map((s) => ({ detector: s.rule.detector, start: s.start, end: s.end }));
  }

  /**
   * Every non-overlapping match in `text`, in order (earliest start wins, then the longest).
   * @internal (the stream scanner's)
   */
  find(text: string): Span[] {
    const spans: Span[] = [];
    const lowered = text.toLowerCase();
    const useLower = lowered.length === text.length;
    const haystack = useLower ? lowered : text;
    for (const { rule, lower, ci } of this.builtin) {
      const re = useLower ? lower : ci;
      const spec = rule.spec;
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(haystack)) !== null) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        let start = m.index;
        const grouped = spec?.valueGroup ? m.groups?.[spec.valueGroup] : undefined;
        if (grouped !== undefined) start = m.index + m[0].length - grouped.length;
        const end = m.index + m[0].length;
        if (spec?.extendLeft) {
          while (start > 0 && spec.extendLeft.test(text.charAt(start - 1))) start--;
        }
        const value = text.slice(start, end);
        const unextended = spec?.extendLeft !== undefined && !spec.allowEmptyExtension && start === m.index;
        const badLeft = spec?.notPrecededBy !== undefined && start > 0 && spec.notPrecededBy.test(text.charAt(start - 1));
        if (unextended || badLeft || (spec?.validate && !spec.validate(value))) {
          // Not this detector's after all: look again from the next character.
          re.lastIndex = m.index + 1;
          continue;
        }
        spans.push({ matchStart: Math.min(start, m.index), start, end, rule, value });
      }
    }
    for (const { regex, rule } of this.tenant) {
      regex.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = regex.exec(text)) !== null) {
        if (m[0].length === 0) {
          regex.lastIndex++;
          continue;
        }
        spans.push({ matchStart: m.index, start: m.index, end: m.index + m[0].length, rule, value: m[0] });
      }
    }
    // Matches extended leftwards or found by a separate pattern may be out of order.
    spans.sort((a, b) => a.start - b.start || b.end - a.end);
    const kept: Span[] = [];
    let end = -1;
    for (const s of spans) {
      if (s.start < end) {
        // Overlap: keep the stricter of the two when it starts at the same place.
        const last = kept[kept.length - 1];
        if (last && s.start === last.start && STRICTNESS[s.rule.action] > STRICTNESS[last.rule.action]) {
          kept[kept.length - 1] = s;
          end = Math.max(end, s.end);
        }
        continue;
      }
      kept.push(s);
      end = s.end;
    }
    return kept;
  }
}

/** Counts what the detectors did, never what they matched; remembers the strictest action. @internal */
export class FindingTally {
  private readonly counts = new Map<string, GuardrailFinding>();
  action: GuardrailAction = 'allow';
  /** The detector of the first blocking match. */
  blockedBy?: string;

  add(rule: Rule): void {
    const key = `${rule.detector}\u0000${rule.action}`;
    const finding = this.counts.get(key);
    if (finding) finding.count++;
    else this.counts.set(key, { detector: rule.detector, action: rule.action, count: 1 });
    if (STRICTNESS[rule.action] > STRICTNESS[this.action]) this.action = rule.action;
    if (rule.action === 'block') this.blockedBy ??= rule.detector;
  }

  findings(): GuardrailFinding[] {
    return [...this.counts.values()].map((f) => ({ ...f }));
  }
}

/**
 * `text` from `from` to `to` with the spans' actions applied (spans inside that range, in
 * order): redacted values become the session's placeholders, every span is tallied. @internal
 */
export function applySpans(text: string, spans: readonly Span[], from: number, to: number, session: RedactionSession, tally: FindingTally): string {
  let out = '';
  let cursor = from;
  for (const span of spans) {
    const { rule } = span;
    tally.add(rule);
    if (rule.action === 'redact') {
      const normalized = rule.spec?.normalize ? rule.spec.normalize(span.value) : span.value.toLowerCase();
      out += text.slice(cursor, Math.max(cursor, span.start)) + session.placeholder(rule.label, normalized);
      cursor = Math.max(cursor, span.end);
    }
  }
  if (from === 0 && cursor === 0 && to === text.length) return text;
  return out + text.slice(cursor, to);
}

export function compileGuardrails(config: GuardrailsConfig): CompiledGuardrails {
  return new CompiledGuardrails(config);
}
