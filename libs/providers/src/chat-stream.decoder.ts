import type { CanonicalFinishReason, CanonicalStreamEvent, CanonicalUsage } from './canonical';
import { isObject, JsonObject } from './json.util';
import { decodeOpenAIFinishReason, decodeOpenAIUsage } from './openai-chat.codec';
import { decodeMistralFinishReason, decodeMistralUsage } from './mistral-chat.codec';
import type { SseEvent } from './sse';
import { badUpstream } from './translation.error';

/** Turns a provider's SSE events (from SseParser) into canonical stream events. */
export interface StreamDecoder {
  push(event: SseEvent): CanonicalStreamEvent[];
  /** The provider signalled the normal end of the stream ([DONE] / message_stop). */
  readonly done: boolean;
}

export function parseEventJson(data: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw badUpstream(null, 'the upstream sent a stream event that is not JSON');
  }
  if (!isObject(parsed)) throw badUpstream(null, 'the upstream sent a stream event that is not an object');
  return parsed;
}

interface ChatFlavour {
  finish(v: unknown): CanonicalFinishReason;
  usage(v: unknown): CanonicalUsage;
  /** Mistral sends each tool call whole (id, name and arguments in one delta). */
  wholeToolCalls: boolean;
}

/** Chat-completions chunks (OpenAI and Mistral share the shape). */
class ChatChunkDecoder implements StreamDecoder {
  done = false;
  private started = false;
  private toolCount = 0;
  private readonly ordinals = new Map<number, number>();

  constructor(private readonly flavour: ChatFlavour) {}

  push(event: SseEvent): CanonicalStreamEvent[] {
    if (event.data.trim() === '[DONE]') {
      this.done = true;
      return [];
    }
    const chunk = parseEventJson(event.data);
    if (isObject(chunk.error) || chunk.object === 'error') {
      const err = isObject(chunk.error) ? chunk.error : chunk;
      const message = typeof err.message === 'string' ? err.message : 'the upstream reported an error';
      const code = typeof err.code === 'string' ? err.code : typeof err.type === 'string' ? err.type : 'upstream_error';
      return [{ type: 'error', status: 502, code, message }];
    }
    const out: CanonicalStreamEvent[] = [];
    if (!this.started) {
      this.started = true;
      out.push({ type: 'start', id: typeof chunk.id === 'string' ? chunk.id : '', model: typeof chunk.model === 'string' ? chunk.model : '' });
    }
    const choice = Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : undefined;
    if (choice) {
      const delta = isObject(choice.delta) ? choice.delta : {};
      const text = contentText(delta.content) + (typeof delta.refusal === 'string' ? delta.refusal : '');
      if (text) out.push({ type: 'text_delta', text });
      if (Array.isArray(delta.tool_calls)) {
        delta.tool_calls.forEach((raw, position) => out.push(...this.toolCall(raw, position)));
      }
      if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
        let reason = this.flavour.finish(choice.finish_reason);
        if (reason === 'stop' && this.toolCount > 0) reason = 'tool_calls';
        out.push({ type: 'finish', reason });
      }
    }
    if (chunk.usage !== null && chunk.usage !== undefined) out.push({ type: 'usage', usage: this.flavour.usage(chunk.usage) });
    return out;
  }

  private toolCall(raw: unknown, position: number): CanonicalStreamEvent[] {
    const tc = isObject(raw) ? raw : {};
    const fn = isObject(tc.function) ? tc.function : {};
    const wireIndex = typeof tc.index === 'number' ? tc.index : position;
    const args = typeof fn.arguments === 'string' ? fn.arguments : fn.arguments === undefined ? '' : JSON.stringify(fn.arguments);
    const out: CanonicalStreamEvent[] = [];
    let index: number | undefined;
    if (typeof tc.id === 'string' && tc.id) {
      index = this.toolCount++;
      if (!this.flavour.wholeToolCalls) this.ordinals.set(wireIndex, index);
      out.push({ type: 'tool_call_start', index, id: tc.id, name: typeof fn.name === 'string' ? fn.name : '' });
    } else {
      index = this.ordinals.get(wireIndex);
      if (index === undefined) throw badUpstream(null, 'the upstream sent arguments for a tool call it never started');
    }
    if (args) out.push({ type: 'tool_call_delta', index, argumentsDelta: args });
    return out;
  }
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((c) => (isObject(c) && c.type === 'text' && typeof c.text === 'string' ? c.text : '')).join('');
}

export class OpenAIStreamDecoder extends ChatChunkDecoder {
  constructor() {
    super({ finish: (v) => decodeOpenAIFinishReason(v, 'choices[0].finish_reason'), usage: (v) => decodeOpenAIUsage(v), wholeToolCalls: false });
  }
}

export class MistralStreamDecoder extends ChatChunkDecoder {
  constructor() {
    super({ finish: (v) => decodeMistralFinishReason(v, 'choices[0].finish_reason'), usage: (v) => decodeMistralUsage(v), wholeToolCalls: true });
  }
}
