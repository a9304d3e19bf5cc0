import { hash } from 'node:crypto';

// Tool call ids must survive a round trip through the client: the id we hand out in a
// response comes back in the next request's tool result. The mappings below are pure
// functions of the id, so a call and its result always map to the same value, and ids that
// are already valid for the target pass through unchanged (so ids a provider issued come
// back to it untouched).

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const MISTRAL_ID = /^[a-zA-Z0-9]{9}$/;
const ANTHROPIC_ID = /^[a-zA-Z0-9_-]+$/;

function base62Digest(id: string, length: number): string {
  const digest = hash('sha256', id, 'buffer');
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[digest[i] % 62];
  return out;
}

/** Mistral accepts only [a-zA-Z0-9]{9}; other ids become 9 base62 chars of their sha256 (53 bits). */
export function toMistralToolCallId(id: string): string {
  return MISTRAL_ID.test(id) ? id : base62Digest(id, 9);
}

/** Anthropic tool_use ids match ^[a-zA-Z0-9_-]+$; others become `toolu_` + 24 base62 chars of their sha256. */
export function toAnthropicToolCallId(id: string): string {
  return ANTHROPIC_ID.test(id) ? id : `toolu_${base62Digest(id, 24)}`;
}
