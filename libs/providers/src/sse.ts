/** One server-sent event as framed on the wire. */
export interface SseEvent {
  event?: string;
  data: string;
}

/**
 * Incremental SSE framing (WHATWG event-stream rules for the fields providers use:
 * `event:` and multi-line `data:`; comments and `id:`/`retry:` are ignored). Kept local
 * because the hot path needs a push parser over Buffers without extra allocations.
 */
export class SseParser {
  private buffer = '';

  /** `maxEventChars` bounds memory: an upstream that never ends an event fails instead of growing the buffer. */
  constructor(private readonly maxEventChars = 8 * 1024 * 1024) {}

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    if (this.buffer.length > this.maxEventChars && !/\r?\n\r?\n/.test(this.buffer)) {
      this.buffer = '';
      throw new SseFramingError(`an upstream event exceeded ${this.maxEventChars} characters`);
    }
    const events: SseEvent[] = [];
    for (;;) {
      const match = /\r?\n\r?\n/.exec(this.buffer);
      if (!match) break;
      const block = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const parsed = parseBlock(block);
      if (parsed) events.push(parsed);
    }
    return events;
  }

  /** Whatever is left when the stream ends (a final event without its blank line). */
  end(): SseEvent[] {
    const rest = this.buffer;
    this.buffer = '';
    const parsed = rest.trim() ? parseBlock(rest) : undefined;
    return parsed ? [parsed] : [];
  }
}

function parseBlock(block: string): SseEvent | undefined {
  let event: string | undefined;
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }
  if (!data.length && !event) return undefined;
  return { event, data: data.join('\n') };
}

/** The upstream's event stream broke the framing limits. */
export class SseFramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SseFramingError';
  }
}
