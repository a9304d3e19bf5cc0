import { hash, randomBytes } from 'node:crypto';

/** ASC API keys: `asc_` + 32 random bytes, base64url. Only their SHA-256 is stored. */
export const API_KEY_PREFIX = 'asc_';
/** Generated keys match `asc_` + 43 base64url chars; imported keys (e.g. ASC_DEMO_API_KEY) may be any 8-256 token chars. */
const API_KEY_PATTERN = /^[A-Za-z0-9_\-.~+/=]{8,256}$/;

export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** Keys carry 256 bits of entropy, so a fast unsalted digest is safe to index and compare. */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/** A cheap syntactic check before any lookup: malformed keys never reach the control plane. */
export function isWellFormedApiKey(key: string): boolean {
  return API_KEY_PATTERN.test(key);
}

/** Characters of the key shown after the fixed `asc_` label: enough to tell keys apart, far too few to use one. */
const DISPLAY_CHARS = 8;

/**
 * The displayable part of a key: `asc_` followed by at most 8 of its characters (at most a
 * quarter of it, so a short imported key is never shown whole).
 */
export function apiKeyDisplayPrefix(key: string): string {
  const body = key.startsWith(API_KEY_PREFIX) ? key.slice(API_KEY_PREFIX.length) : key;
  return API_KEY_PREFIX + body.slice(0, Math.min(DISPLAY_CHARS, Math.floor(body.length / 4)));
}

/** The smallest entropy an imported key may carry: what a 128-bit random secret has. */
export const MIN_IMPORTED_KEY_BITS = 128;
export const IMPORTED_KEY_RULE = `must carry at least ${MIN_IMPORTED_KEY_BITS} bits of entropy (e.g. 22 or more random base64url characters, or 32 random hex digits)`;

/**
 * An upper estimate of a key's entropy in bits: its length times log2 of the alphabet its
 * character classes span (lowercase, uppercase, digits, symbols), counted only over
 * characters that are not runs or repeats of what came before — so `aaaa…`, `abab…`
 * and `12345…` score low. An estimate can only reject weak keys; it cannot prove a key
 * random, which is why generated keys are preferred.
 */
export function estimateKeyEntropyBits(key: string): number {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/];
  const sizes = [26, 26, 10, 7];
  const pool = classes.reduce((n, re, i) => n + (re.test(key) ? sizes[i] : 0), 0);
  if (pool === 0) return 0;
  let effective = 0;
  for (let i = 0; i < key.length; i++) {
    const step = key.charCodeAt(i) - key.charCodeAt(i - 1);
    const sequential = i >= 2 && Math.abs(step) === 1 && key.charCodeAt(i - 1) - key.charCodeAt(i - 2) === step;
    const alternating = i >= 3 && key[i] === key[i - 2] && key[i - 1] === key[i - 3];
    const repeated = i >= 1 && key[i] === key[i - 1];
    if (!sequential && !alternating && !repeated) effective++;
  }
  return Math.floor(effective * Math.log2(pool));
}

/** Whether an imported key meets the entropy rule (generated keys carry 256 bits). */
export function isStrongApiKey(key: string): boolean {
  return isWellFormedApiKey(key) && estimateKeyEntropyBits(key) >= MIN_IMPORTED_KEY_BITS;
}
