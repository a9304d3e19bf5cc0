import { createHash, randomBytes } from 'node:crypto';

/** ASC API keys: `asc_` + 32 random bytes, base64url. Only their SHA-256 is stored. */
export const API_KEY_PREFIX = 'asc_';
/** Generated keys match `asc_` + 43 base64url chars; imported keys (e.g. ASC_DEMO_API_KEY) may be any 8-256 token chars. */
const API_KEY_PATTERN = /^[A-Za-z0-9_\-.~+/=]{8,256}$/;

export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** Keys carry 256 bits of entropy, so a fast unsalted digest is safe to index and compare. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A cheap syntactic check before any lookup: malformed keys never reach the control plane. */
export function isWellFormedApiKey(key: string): boolean {
  return API_KEY_PATTERN.test(key);
}

/** The displayable part of a key (never enough to use it). */
export function apiKeyDisplayPrefix(key: string): string {
  return key.slice(0, 10);
}
