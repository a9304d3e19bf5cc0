import { CanonicalFinishReason, CanonicalStreamEvent, CanonicalUsage, mergeUsage } from './canonical';
import { anthropicErrorStatus, anthropicInputUsage, AnthropicUsageCounters, decodeAnthropicStopReason, encodeAnthropicError, encodeAnthropicStopReason, encodeAnthropicUsage, readAnthropicUsage } from './anthropic-messages.codec';
import type { StreamDecoder } from './chat-stream.decoder';
import { parseEventJson } from './chat-stream.decoder';
import type { StreamEncoder } from './chat-stream.encoder';
import { isObject, JsonObject } from './json.util';
import type { SseEvent } from './sse';
import { toAnthropicToolCallId } from './tool-call-id.util';
import { badUpstream } from './translation.error';

/**
 * Anthropic Messages stream -> canonical events. Usage: message_start reports the input
 * (its output_tokens is a placeholder and is ignored), message_delta the cumulative output
 * (and, in newer API versions, possibly updated input counters).
 */
export class AnthropicStreamDecoder implements StreamDecoder {
  done = false;
  private counters: AnthropicUsageCounters = {};
  private toolCount = 0;
  /** Content block index -> tool call ordinal. */
  private readonly tools = new Map<number, number>();

  push(event: SseEvent): CanonicalStreamEvent[] {
    const ev = parseEventJson(event.data);
    const type = typeof ev.type === 'string' ? ev.type : event.event;
    switch (type) {
      case 'message_start': {
        const msg = isObject(ev.message) ? ev.message : {};
        const out: CanonicalStreamEvent[] = [{ type: 'start', id: typeof msg.id === 'string' ? msg.id : '', model: typeof msg.model === 'string' ? msg.model : '' }];
        const { output: _placeholder, ...input } = readAnthropicUsage(msg.usage);
        this.counters = input;
        const usage = anthropicInputUsage(this.counters);
        if (usage.inputTokens !== undefined) out.push({ type: 'usage', usage });
        return out;
      }
      case 'content_block_start': {
        const block = isObject(ev.content_block) ? ev.content_block : {};
        const index = typeof ev.index === 'number' ? ev.index : -1;
        if (block.type === 'text') return typeof block.text === 'string' && block.text ? [{ type: 'text_delta', text: block.text }] : [];
        if (block.type === 'tool_use') {
          const ordinal = this.toolCount++;
          this.tools.set(index, ordinal);
          const out: CanonicalStreamEvent[] = [{ type: 'tool_call_start', index: ordinal, id: String(block.id ?? ''), name: String(block.name ?? '') }];
          if (isObject(block.input) && Object.keys(block.input).length) out.push({ type: 'tool_call_delta', index: ordinal, argumentsDelta: JSON.stringify(block.input) });
          return out;
        }
        if (block.type === 'thinking' || block.type === 'redacted_thinking') return [];
        throw badUpstream(null, `content block type '${String(block.type)}' cannot be translated`);
      }
      case 'content_block_delta': {
        const delta = isObject(ev.delta) ? ev.delta : {};
        if (delta.type === 'text_delta') return typeof delta.text === 'string' && delta.text ? [{ type: 'text_delta', text: delta.text }] : [];
        if (delta.type === 'input_json_delta') {
          const ordinal = this.tools.get(typeof ev.index === 'number' ? ev.index : -1);
          if (ordinal === undefined) throw badUpstream(null, 'tool arguments for a block that is not a tool call');
          return typeof delta.partial_json === 'string' && delta.partial_json ? [{ type: 'tool_call_delta', index: ordinal, argumentsDelta: delta.partial_json }] : [];
        }
        return []; // thinking, signature and citation deltas have no canonical form
      }
      case 'message_delta': {
        const delta = isObject(ev.delta) ? ev.delta : {};
        const out: CanonicalStreamEvent[] = [];
        if (delta.stop_reason !== null && delta.stop_reason !== undefined) {
          const finish: CanonicalStreamEvent = { type: 'finish', reason: decodeAnthropicStopReason(delta.stop_reason, 'delta.stop_reason') };
          if (typeof delta.stop_sequence === 'string') finish.stopSequence = delta.stop_sequence;
          out.push(finish);
        }
        const reported = readAnthropicUsage(ev.usage);
        for (const key of Object.keys(reported) as Array<keyof AnthropicUsageCounters>) {
          if (reported[key] !== undefined) this.counters[key] = reported[key];
        }
        const usage: Partial<CanonicalUsage> = anthropicInputUsage(this.counters);
        if (reported.output !== undefined) usage.outputTokens = reported.output;
        if (reported.thinking !== undefined) usage.reasoningTokens = reported.thinking;
        if (Object.keys(usage).length) out.push({ type: 'usage', usage });
        return out;
      }
      case 'message_stop':
        this.done = true;
        return [];
      case 'error': {
        const err = isObject(ev.error) ? ev.error : {};
        return [{ type: 'error', status: anthropicErrorStatus(err.type), code: typeof err.type === 'string' ? err.type : 'api_error', message: typeof err.message === 'string' ? err.message : 'the upstream reported an error' }];
      }
      default:
        return []; // ping, content_block_stop, future event types
    }
  }
}

const sse = (event: string, payload: unknown): string => `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;

/**
 * Canonical events -> Anthropic's message_start, content_block_start/delta/stop…,
 * message_delta, message_stop. message_start waits for the first content so that it can
 * carry the input usage when the upstream reports it early; message_delta repeats the
 * final input counters (the SDK applies non-null ones), so a late report is exact too.
 */
export class AnthropicStreamEncoder implements StreamEncoder {
  private id = '';
  private started = false;
  private failed = false;
  private usage: Partial<CanonicalUsage> = {};
  private finish: { reason: CanonicalFinishReason; stopSequence?: string } | undefined;
  private nextBlock = 0;
  private openBlock: number | null = null;
  private openKind: 'text' | 'tool' | null = null;
  private readonly toolBlocks = new Map<number, number>();

  constructor(private readonly requestedModel: string) {}

  push(ev: CanonicalStreamEvent): string {
    if (this.failed) return '';
    switch (ev.type) {
      case 'start':
        this.id = ev.id;
        return '';
      case 'usage':
        this.usage = mergeUsage({ inputTokens: 0, outputTokens: 0, ...this.usage }, ev.usage);
        return '';
      case 'text_delta': {
        let out = this.begin();
        if (this.openKind !== 'text') out += this.openBlockOf('text', { type: 'text', text: '' });
        return out + sse('content_block_delta', { type: 'content_block_delta', index: this.openBlock, delta: { type: 'text_delta', text: ev.text } });
      }
      case 'tool_call_start': {
        const out = this.begin() + this.openBlockOf('tool', { type: 'tool_use', id: toAnthropicToolCallId(ev.id), name: ev.name, input: {} });
        this.toolBlocks.set(ev.index, this.openBlock as number);
        return out;
      }
      case 'tool_call_delta': {
        // A delta for an earlier tool block keeps that block's index (SDKs accumulate by index).
        const index = this.toolBlocks.get(ev.index);
        if (index === undefined) return '';
        return sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: ev.argumentsDelta } });
      }
      case 'finish':
        if (ev.reason === 'error') return this.fail(502, 'the upstream model stopped with an error');
        this.finish = { reason: ev.reason, stopSequence: ev.stopSequence };
        return this.begin() + this.closeBlock();
      case 'error':
        return this.fail(ev.status, ev.message);
    }
  }

  end(): string {
    if (this.failed) return '';
    if (!this.finish) return this.fail(502, 'the upstream stream ended before it finished');
    const delta = { stop_reason: encodeAnthropicStopReason(this.finish.reason, this.finish.stopSequence), stop_sequence: this.finish.stopSequence ?? null };
    return this.begin() + this.closeBlock() + sse('message_delta', { type: 'message_delta', delta, usage: encodeAnthropicUsage(this.usage) }) + sse('message_stop', { type: 'message_stop' });
  }

  private begin(): string {
    if (this.started) return '';
    this.started = true;
    const usage: JsonObject = { ...encodeAnthropicUsage(this.usage), output_tokens: 0 };
    return sse('message_start', {
      type: 'message_start',
      message: { id: this.id, type: 'message', role: 'assistant', model: this.requestedModel, content: [], stop_reason: null, stop_sequence: null, usage },
    });
  }

  private openBlockOf(kind: 'text' | 'tool', contentBlock: JsonObject): string {
    const out = this.closeBlock();
    this.openBlock = this.nextBlock++;
    this.openKind = kind;
    return out + sse('content_block_start', { type: 'content_block_start', index: this.openBlock, content_block: contentBlock });
  }

  private closeBlock(): string {
    if (this.openBlock === null) return '';
    const out = sse('content_block_stop', { type: 'content_block_stop', index: this.openBlock });
    this.openBlock = null;
    this.openKind = null;
    return out;
  }

  private fail(status: number, message: string): string {
    this.failed = true;
    return sse('error', encodeAnthropicError(status, '', message));
  }
}
