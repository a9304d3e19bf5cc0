import { CanonicalFinishReason, CanonicalStreamEvent, CanonicalUsage, mergeUsage } from './canonical';
import type { JsonObject } from './json.util';
import { encodeOpenAIError, encodeOpenAIUsage } from './openai-chat.codec';
import { encodeMistralError, encodeMistralUsage } from './mistral-chat.codec';
import { toMistralToolCallId } from './tool-call-id.util';

/** Turns canonical stream events into the client's SSE text. Call end() once when the upstream is done. */
export interface StreamEncoder {
  push(event: CanonicalStreamEvent): string;
  end(): string;
}

export interface ChatStreamEncoderOptions {
  /** Unix seconds for `created`; default now. */
  created?: number;
}

const data = (obj: unknown): string => `data: ${JSON.stringify(obj)}\n\n`;
const EARLY_END = 'the upstream stream ended before it finished';

/** OpenAI chat.completion.chunk stream; the usage chunk (choices: []) comes last when include_usage. */
export class OpenAIStreamEncoder implements StreamEncoder {
  private id = '';
  private started = false;
  private finished = false;
  private failed = false;
  private usage: CanonicalUsage = { inputTokens: 0, outputTokens: 0 };
  private readonly created: number;

  constructor(
    private readonly requestedModel: string,
    private readonly includeUsage: boolean,
    options: ChatStreamEncoderOptions = {},
  ) {
    this.created = options.created ?? Math.floor(Date.now() / 1000);
  }

  push(ev: CanonicalStreamEvent): string {
    if (this.failed) return '';
    switch (ev.type) {
      case 'start':
        this.id = ev.id;
        return this.begin();
      case 'text_delta':
        return this.begin() + this.chunk({ content: ev.text });
      case 'tool_call_start':
        return this.begin() + this.chunk({ tool_calls: [{ index: ev.index, id: ev.id, type: 'function', function: { name: ev.name, arguments: '' } }] });
      case 'tool_call_delta':
        return this.begin() + this.chunk({ tool_calls: [{ index: ev.index, function: { arguments: ev.argumentsDelta } }] });
      case 'finish':
        if (ev.reason === 'error') return this.fail(502, 'upstream_error_finish', 'the upstream model stopped with an error');
        this.finished = true;
        return this.begin() + this.chunk({}, ev.reason);
      case 'usage':
        this.usage = mergeUsage(this.usage, ev.usage);
        return '';
      case 'error':
        return this.fail(ev.status, ev.code, ev.message);
    }
  }

  end(): string {
    if (this.failed) return '';
    if (!this.finished) return this.fail(502, 'upstream_incomplete', EARLY_END);
    let out = this.begin();
    if (this.includeUsage) out += data({ ...this.base(), choices: [], usage: encodeOpenAIUsage(this.usage) });
    return out + 'data: [DONE]\n\n';
  }

  private base(): JsonObject {
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.requestedModel };
  }

  private begin(): string {
    if (this.started) return '';
    this.started = true;
    return this.chunk({ role: 'assistant', content: '' });
  }

  private chunk(delta: JsonObject, finish: CanonicalFinishReason | null = null): string {
    const body: JsonObject = { ...this.base(), choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
    if (this.includeUsage) body.usage = null;
    return data(body);
  }

  private fail(status: number, code: string, message: string): string {
    this.failed = true;
    return data(encodeOpenAIError(status, code, message));
  }
}

/**
 * Mistral chunk stream: tool calls are sent whole (one delta each, ids mapped to Mistral's
 * 9-char form) and usage rides on the finishing chunk, then `[DONE]`.
 */
export class MistralStreamEncoder implements StreamEncoder {
  private id = '';
  private started = false;
  private finish: CanonicalFinishReason | undefined;
  private failed = false;
  private usage: CanonicalUsage = { inputTokens: 0, outputTokens: 0 };
  private pending: Array<{ index: number; id: string; name: string; args: string }> = [];
  private readonly created: number;

  constructor(
    private readonly requestedModel: string,
    options: ChatStreamEncoderOptions = {},
  ) {
    this.created = options.created ?? Math.floor(Date.now() / 1000);
  }

  push(ev: CanonicalStreamEvent): string {
    if (this.failed) return '';
    switch (ev.type) {
      case 'start':
        this.id = ev.id;
        return this.begin();
      case 'text_delta':
        return this.begin() + this.flushTools() + this.chunk({ content: ev.text });
      case 'tool_call_start':
        this.pending.push({ index: ev.index, id: ev.id, name: ev.name, args: '' });
        return this.begin();
      case 'tool_call_delta': {
        const call = this.pending.find((c) => c.index === ev.index);
        if (call) call.args += ev.argumentsDelta;
        return '';
      }
      case 'finish':
        this.finish = ev.reason;
        return this.begin() + this.flushTools();
      case 'usage':
        this.usage = mergeUsage(this.usage, ev.usage);
        return '';
      case 'error':
        return this.fail(ev.status, ev.code, ev.message);
    }
  }

  end(): string {
    if (this.failed) return '';
    if (!this.finish) return this.fail(502, 'upstream_incomplete', EARLY_END);
    const out = this.begin() + this.flushTools();
    return out + this.chunk({ content: '' }, this.finish, encodeMistralUsage(this.usage)) + 'data: [DONE]\n\n';
  }

  private flushTools(): string {
    if (!this.pending.length) return '';
    const calls = this.pending.map((c) => ({ id: toMistralToolCallId(c.id), function: { name: c.name, arguments: c.args }, index: c.index }));
    this.pending = [];
    return this.chunk({ tool_calls: calls });
  }

  private begin(): string {
    if (this.started) return '';
    this.started = true;
    return this.chunk({ role: 'assistant', content: '' });
  }

  private chunk(delta: JsonObject, finish: CanonicalFinishReason | null = null, usage?: JsonObject): string {
    const body: JsonObject = { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.requestedModel, choices: [{ index: 0, delta, finish_reason: finish }] };
    if (usage) body.usage = usage;
    return data(body);
  }

  private fail(status: number, code: string, message: string): string {
    this.failed = true;
    return data(encodeMistralError(status, code, message));
  }
}
