// The provider-neutral model every codec translates to and from. Pure data, no I/O.

export type CanonicalImageSource = { kind: 'url'; url: string } | { kind: 'base64'; mediaType: string; data: string };

export type CanonicalContentPart = { type: 'text'; text: string } | { type: 'image'; source: CanonicalImageSource };

export interface CanonicalToolCall {
  id: string;
  name: string;
  /** The arguments exactly as a JSON text (OpenAI/Mistral send text, Anthropic an object). */
  argumentsJson: string;
}

export type CanonicalMessage =
  /** An instruction in the middle of the conversation (leading ones live in `system`). */
  | { role: 'system'; content: string }
  | { role: 'user'; content: CanonicalContentPart[] }
  | { role: 'assistant'; content: CanonicalContentPart[]; toolCalls: CanonicalToolCall[] }
  | { role: 'tool'; toolCallId: string; content: CanonicalContentPart[]; isError?: boolean };

export interface CanonicalTool {
  name: string;
  description?: string;
  jsonSchema: Record<string, unknown>;
  strict?: boolean;
}

export type CanonicalToolChoice = 'auto' | 'none' | 'required' | { name: string };

export type CanonicalResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; description?: string; strict?: boolean };

export interface CanonicalRequest {
  /** Model the caller asked for (the upstream model is chosen by routing). */
  model: string;
  /** Leading system/developer instructions, in order. */
  system: string[];
  messages: CanonicalMessage[];
  /**
   * The last message is an assistant message the model must continue (Anthropic prefill,
   * Mistral `prefix: true`). OpenAI has no such notion.
   */
  assistantPrefill?: boolean;
  tools?: CanonicalTool[];
  toolChoice?: CanonicalToolChoice;
  parallelToolCalls?: boolean;
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  stop?: string[];
  seed?: number;
  responseFormat?: CanonicalResponseFormat;
  /** End-user identifier for the provider's abuse monitoring (no effect on the output). */
  user?: string;
  metadata?: Record<string, string>;
  stream: boolean;
  /** The caller wants usage in the stream (OpenAI include_usage; always true for Anthropic/Mistral callers). */
  streamUsage: boolean;
}

export type CanonicalFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error';

/**
 * Token usage. `inputTokens` is the TOTAL input, cached tokens included (OpenAI's
 * prompt_tokens; Anthropic's input_tokens + cache_read_input_tokens +
 * cache_creation_input_tokens). `outputTokens` includes reasoning tokens.
 * Optional fields are present only when the provider reported them.
 */
export interface CanonicalUsage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the provider's prompt cache (subset of inputTokens). */
  cachedInputTokens?: number;
  /** Input tokens written to the prompt cache (Anthropic; subset of inputTokens). */
  cacheCreationInputTokens?: number;
  /** Reasoning/thinking tokens (subset of outputTokens). */
  reasoningTokens?: number;
}

export type CanonicalResponseBlock = { type: 'text'; text: string } | ({ type: 'tool_call' } & CanonicalToolCall);

export interface CanonicalResponse {
  id: string;
  model: string;
  content: CanonicalResponseBlock[];
  finishReason: CanonicalFinishReason;
  /** The stop sequence that ended the output, when the provider says which. */
  stopSequence?: string;
  usage: CanonicalUsage;
}

/**
 * Streaming events. Tool calls are numbered 0.. in the order they start (`index`), whatever
 * the provider's own block numbering. `usage` events carry the provider's latest cumulative
 * report: a field present replaces the earlier value, an absent field is "not reported".
 */
export type CanonicalStreamEvent =
  | { type: 'start'; id: string; model: string }
  | { type: 'text_delta'; text: string }
  | { type: 'tool_call_start'; index: number; id: string; name: string }
  | { type: 'tool_call_delta'; index: number; argumentsDelta: string }
  | { type: 'finish'; reason: CanonicalFinishReason; stopSequence?: string }
  | { type: 'usage'; usage: Partial<CanonicalUsage> }
  | { type: 'error'; status: number; code: string; message: string };

/** Text of the text parts (images skipped), joined without separator. */
export function partsText(parts: CanonicalContentPart[]): string {
  return parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

/** Folds a stream's events into the response a non-stream call would have returned. */
export function collectStream(events: Iterable<CanonicalStreamEvent>): CanonicalResponse {
  const res: CanonicalResponse = { id: '', model: '', content: [], finishReason: 'stop', usage: { inputTokens: 0, outputTokens: 0 } };
  const calls = new Map<number, { type: 'tool_call' } & CanonicalToolCall>();
  for (const ev of events) {
    switch (ev.type) {
      case 'start':
        res.id = ev.id;
        res.model = ev.model;
        break;
      case 'text_delta': {
        const last = res.content[res.content.length - 1];
        if (last && last.type === 'text') last.text += ev.text;
        else res.content.push({ type: 'text', text: ev.text });
        break;
      }
      case 'tool_call_start': {
        const block = { type: 'tool_call' as const, id: ev.id, name: ev.name, argumentsJson: '' };
        calls.set(ev.index, block);
        res.content.push(block);
        break;
      }
      case 'tool_call_delta': {
        const block = calls.get(ev.index);
        if (block) block.argumentsJson += ev.argumentsDelta;
        break;
      }
      case 'finish':
        res.finishReason = ev.reason;
        if (ev.stopSequence !== undefined) res.stopSequence = ev.stopSequence;
        break;
      case 'usage':
        res.usage = mergeUsage(res.usage, ev.usage);
        break;
      case 'error':
        res.finishReason = 'error';
        break;
    }
  }
  return res;
}

/** `base` with every count `patch` reports replaced (an absent count is "not reported"). */
export function mergeUsage<T extends Partial<CanonicalUsage>>(base: T, patch: Partial<CanonicalUsage>): T {
  const out: T = { ...base };
  for (const key of Object.keys(patch) as Array<keyof CanonicalUsage>) {
    const v = patch[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}
