// A deterministic stand-in for a BPE tokenizer (~4 characters per token on English text).
// Each token is at most 4 letters, 3 digits or one symbol, optionally with one leading space;
// runs of other whitespace are one token. Matching is greedy left to right and every match
// is decided only by the characters it covers, so cutting a text at a token boundary and
// re-tokenizing gives back exactly the prefix: usage stays consistent after truncation.
const TOKEN_RE = /\s?\p{L}{1,4}|\s?\p{N}{1,3}|\s?[^\s\p{L}\p{N}]|\s+/gu;

/** Splits text into token strings; `tokenize(t).join('') === t`. */
export function tokenize(text: string): string[] {
  return text.match(TOKEN_RE) ?? [];
}

/** Number of tokens in a text (what the simulator reports in usage). */
export function countTokens(text: string): number {
  if (!text) return 0;
  TOKEN_RE.lastIndex = 0;
  let n = 0;
  while (TOKEN_RE.exec(text) !== null) n++;
  TOKEN_RE.lastIndex = 0;
  return n;
}

/** Fixed per-message framing cost, in the spirit of chat templates. */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Fixed cost of priming the assistant reply. */
export const REPLY_PRIMING_TOKENS = 3;
/** Flat cost charged for every image part in a prompt. */
export const IMAGE_TOKENS = 85;
