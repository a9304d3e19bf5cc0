import { isIPv6 } from 'node:net';

/**
 * Built-in PII/PHI detectors: a regular-expression source each (compiled one regex per
 * detector: V8 runs those faster than one alternation), and a validator that rejects look-alikes
 * (Luhn for cards, mod-97 for IBANs, number ranges for SSNs, node's parser for IPv6).
 */

export const BUILTIN_DETECTORS = [
  'email',
  'phone',
  'us_ssn',
  'credit_card',
  'iban',
  'ip_address',
  'date_of_birth',
  'medical_record_number',
] as const;
export type BuiltinDetector = (typeof BUILTIN_DETECTORS)[number];

export interface DetectorSpec {
  /** Regex source; any group it has is named, and the name is unique across detectors (they share one regex). */
  source: string;
  /** The match is a finding only if this accepts it (default: always). */
  validate?: (value: string) => boolean;
  /** Normalises a value so that the same datum written twice gets the same placeholder. */
  normalize?: (value: string) => string;
  /**
   * For context-anchored detectors (date of birth): the matched text starts with a label
   * ("DOB: ") that stays, and only the trailing value is redacted. The regex source ends
   * with a named value group; this is its name. When the group did not take part in the
   * match, the whole match is the value.
   */
  valueGroup?: string;
  /** Extends the match leftwards over characters of this class (the local part of an e-mail). */
  extendLeft?: RegExp;
  /** Without it, a match that extendLeft could not extend is no match (an "@" alone). */
  allowEmptyExtension?: boolean;
  /** The character before the (extended) match must not be one of these. */
  notPrecededBy?: RegExp;
  /**
   * The longest text a match can span, left extension included: a streamed response holds
   * back this much of its tail (docs/architecture.md, "Guardrails on streamed responses").
   * Every quantifier of the built-in sources is bounded so that this is exact, except the
   * e-mail address, bounded by RFC 5321's 254 characters.
   */
  maxLength: number;
  /**
   * Every character a match can contain (one character, case-insensitive): a stream holds
   * back only the tail run of these characters (an e-mail address cannot span a space),
   * not the whole maxLength.
   */
  chars?: RegExp;
}

const digitsOnly = (v: string) => v.replace(/\D/g, '');

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export function ibanValid(raw: string): boolean {
  const iban = raw.replace(/[\s-]/g, '').toUpperCase();
  if (iban.length < 15 || iban.length > 34 || !/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(iban)) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  // mod-97 over the letters-as-numbers string, computed piecewise to stay within a double.
  let remainder = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? String(code - 55) : ch;
    for (const digit of value) remainder = (remainder * 10 + (digit.charCodeAt(0) - 48)) % 97;
  }
  return remainder === 1;
}

function ssnValid(raw: string): boolean {
  const d = digitsOnly(raw).slice(-9);
  if (d.length !== 9) return false;
  const area = Number(d.slice(0, 3));
  return area !== 0 && area !== 666 && area < 900 && d.slice(3, 5) !== '00' && d.slice(5) !== '0000';
}

function phoneValid(raw: string): boolean {
  const n = digitsOnly(raw).length;
  return n >= 8 && n <= 15;
}

// ASCII word boundaries: the combined regex runs without the `u` flag, because V8 is ~20×
// slower on case-insensitive Unicode regexes (measured: 292 vs 14 µs/KiB for the injection list).
const NOT_AFTER_ALNUM = '(?<![A-Za-z0-9_])';
const NOT_BEFORE_ALNUM = '(?![A-Za-z0-9_])';
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const MONTHS = 'jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?';
const DATE =
  `(?:\\d{4}[-/.]\\d{1,2}[-/.]\\d{1,2}|\\d{1,2}[-/.]\\d{1,2}[-/.]\\d{2,4}|(?:${MONTHS})\\.? \\d{1,2}(?:st|nd|rd|th)?,? \\d{4}|\\d{1,2}(?:st|nd|rd|th)? (?:${MONTHS})\\.?,? \\d{4})`;

/** The built-in MRN shape: a label then 6-10 digits. Tenants can replace it. */
export const DEFAULT_MRN_MAX_LENGTH = 48; // "medical record number" + 8 + ":" + 8 + 10 digits
export const DEFAULT_MRN_PATTERN = `${NOT_AFTER_ALNUM}(?:mrn|medical record(?: number| no\\.?)?)\\s{0,8}[:#]?\\s{0,8}\\d{6,10}${NOT_BEFORE_ALNUM}`;

export const DETECTOR_SPECS: Record<Exclude<BuiltinDetector, 'medical_record_number'>, DetectorSpec | DetectorSpec[]> = {
  email: {
    // Matched from the "@" and extended left over the local part in code: a regex that
    // starts with the local part's class retries at every letter of every word (~55 µs/KiB).
    source: `@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}${NOT_BEFORE_ALNUM}`,
    extendLeft: /[A-Za-z0-9._%+-]/,
    normalize: (v) => v.toLowerCase(),
    maxLength: 254,
    chars: /[A-Za-z0-9._%+@-]/,
  },
  iban: {
    source: `${NOT_AFTER_ALNUM}[A-Za-z]{2}\\d{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,3})?${NOT_BEFORE_ALNUM}`,
    validate: ibanValid,
    normalize: (v) => v.replace(/\s/g, '').toUpperCase(),
    maxLength: 43,
    chars: /[A-Za-z0-9 ]/,
  },
  credit_card: {
    source: `(?<![\\d-])\\d(?:[ -]?\\d){12,18}(?![\\d])`,
    validate: (v) => {
      const d = digitsOnly(v);
      return d.length >= 13 && d.length <= 19 && luhnValid(d);
    },
    normalize: digitsOnly,
    maxLength: 37,
    chars: /[0-9 -]/,
  },
  us_ssn: {
    // Formatted anywhere; nine bare digits only right after an SSN label.
    source: `(?:(?<![\\d-])\\d{3}(?<ssnsep>[- ])\\d{2}\\k<ssnsep>\\d{4}(?![\\d-])|${NOT_AFTER_ALNUM}(?:ssn|social security(?: number| no\\.?)?)\\s{0,8}[:#]?\\s{0,8}(?<ssnv>\\d{9})(?!\\d))`,
    valueGroup: 'ssnv',
    validate: ssnValid,
    normalize: digitsOnly,
    maxLength: 48, // "social security number" + 8 + ":" + 8 + 9 digits
  },
  date_of_birth: {
    source: `${NOT_AFTER_ALNUM}(?:dob|d\\.o\\.b\\.?|date of birth|birth ?date|birthday|born(?: on)?)\\s{0,8}[:#-]?\\s{0,8}(?<dob>${DATE})`,
    valueGroup: 'dob',
    maxLength: 52, // "date of birth" + 8 + ":" + 8 + "september 30th, 2024"
  },
  ip_address: [
    { source: `(?<![\\d.])${OCTET}(?:\\.${OCTET}){3}(?![\\d]|\\.\\d)`, normalize: (v) => v, maxLength: 15, chars: /[0-9.]/ },
    {
      // IPv6, matched from its first colon and extended left over the first group: a regex
      // that starts with a hex digit retries at every a-f letter of the prose (~30 µs/KiB).
      source: `:(?:[0-9a-f]{0,4}:){0,6}[0-9a-f]{0,4}(?![A-Za-z0-9_:])`,
      extendLeft: /[0-9a-fA-F]/,
      allowEmptyExtension: true,
      notPrecededBy: /[A-Za-z0-9_:.]/,
      validate: (v) => isIPv6(v) && /[0-9a-fA-F]/.test(v),
      normalize: (v) => v.toLowerCase(),
      maxLength: 39,
      chars: /[0-9a-fA-F:]/,
    },
  ],
  phone: {
    // International (+CC …) or North American (area and exchange codes start with 2-9).
    source:
      `(?:(?<![A-Za-z0-9_+])\\+\\d{1,3}(?:[ .-]?\\(?\\d{1,4}\\)?){2,6}(?![\\d])` +
      `|(?<![A-Za-z0-9_])(?:\\([2-9]\\d\\d\\)[ ]?|[2-9]\\d\\d[-. ])[2-9]\\d\\d[-. ]\\d{4}(?![\\d]))`,
    validate: phoneValid,
    normalize: digitsOnly,
    maxLength: 46, // "+" + 3 + 6 × " (1234)"
    chars: /[0-9 .()+-]/,
  },
};

/**
 * Injection phrasings seen in the wild; tenants add their own patterns. Case-insensitive.
 * Whitespace runs are bounded (at most 8) so that the longest match is 94 characters
 * (BUILTIN_INJECTION_MAX_LENGTH): a streamed answer holds back no more than that for them.
 */
export const BUILTIN_INJECTION_MAX_LENGTH = 96;
export const BUILTIN_INJECTION_PATTERNS: readonly string[] = [
  '\\b(?:ignore|disregard|forget|override)\\s{1,8}(?:all\\s{1,8}|any\\s{1,8}|the\\s{1,8}|your\\s{1,8}){0,4}(?:previous|prior|above|earlier|preceding|system)\\s{1,8}(?:instructions|prompts?|rules|directions|messages)',
  '\\b(?:reveal|print|show|repeat|leak)\\s{1,8}(?:me\\s{1,8})?(?:your|the)\\s{1,8}(?:system\\s{1,8}prompt|hidden\\s{1,8}instructions|initial\\s{1,8}instructions)',
  '\\byou\\s{1,8}are\\s{1,8}now\\s{1,8}(?:dan|in\\s{1,8}developer\\s{1,8}mode|jailbroken|unrestricted)\\b',
  '\\bdo\\s{1,8}anything\\s{1,8}now\\b',
  '\\b(?:act|pretend|behave)\\s{1,8}as\\s{1,8}(?:if\\s{1,8}you\\s{1,8}(?:are|were)\\s{1,8})?(?:an?\\s{1,8})?(?:unfiltered|unrestricted|uncensored)\\b',
  '\\bwithout\\s{1,8}(?:any\\s{1,8})?(?:restrictions|filters|guardrails|safety\\s{1,8}guidelines)\\s{0,8}[,.:]?\\s{0,8}(?:answer|respond|tell)',
  '\\bnew\\s{1,8}instructions\\s{0,8}:',
  '<\\s{0,8}/?\\s{0,8}system\\s{0,8}>',
];
