import { CanonicalRequest, CanonicalStreamEvent, CanonicalUsage, mergeUsage } from './canonical';

/** Usage to meter for one stream, complete or not. */
export interface MeteredUsage extends CanonicalUsage {
  /** True when some count is our estimate, not the provider's report (see StreamUsageTracker). */
  estimated: boolean;
  /** The provider finished the stream normally (a finish event was seen). */
  complete: boolean;
}

/**
 * Documented estimate when a provider never reported a count: one token per 4 characters
 * (rounded up), the usual rule of thumb for English text with BPE tokenizers. Only used for
 * streams cut before the provider's usage report.
 */
export function estimateTokens(text: string): number {
  return estimateTokensOfLength(text.length);
}

function estimateTokensOfLength(chars: number): number {
  return chars ? Math.ceil(chars / 4) : 0;
}

/** Estimate of a request's input (all message text, system text, tool names/descriptions/schemas). */
export function estimateRequestInputTokens(req: CanonicalRequest): number {
  // Lengths are summed, not the text joined: the estimate is counted for every request.
  let chars = req.system.length ? req.system.length - 1 : 0; // the '\n' between system parts
  for (const s of req.system) chars += s.length;
  for (const m of req.messages) {
    if (m.role === 'system') chars += m.content.length;
    else for (const p of m.content) if (p.type === 'text') chars += p.text.length;
    if (m.role === 'assistant') for (const c of m.toolCalls) chars += c.name.length + c.argumentsJson.length;
  }
  for (const t of req.tools ?? []) chars += t.name.length + (t.description?.length ?? 0) + (JSON.stringify(t.jsonSchema)?.length ?? 0);
  return estimateTokensOfLength(chars);
}

/**
 * Follows a stream's canonical events and answers, at any point, the usage to meter:
 * exactly what the provider reported so far; for a count the provider never reported before
 * the stream was cut (client gone, upstream dropped), an estimate, flagged `estimated`:
 * output from the length of the text and tool calls produced so far, input from
 * `inputEstimate` (a function is only called when the provider never reported input, so a
 * stream that ends normally never pays for the estimate).
 */
export class StreamUsageTracker {
  private reported: Partial<CanonicalUsage> = {};
  private outputChars = 0;
  private finished = false;

  constructor(private readonly inputEstimate: number | (() => number) = 0) {}

  observe(ev: CanonicalStreamEvent): void {
    switch (ev.type) {
      case 'usage':
        this.reported = mergeUsage(this.reported, ev.usage);
        break;
      case 'text_delta':
        this.outputChars += ev.text.length;
        break;
      case 'tool_call_start':
        this.outputChars += ev.name.length;
        break;
      case 'tool_call_delta':
        this.outputChars += ev.argumentsDelta.length;
        break;
      case 'finish':
        this.finished = true;
        break;
      default:
        break;
    }
  }

  usage(): MeteredUsage {
    const { inputTokens, outputTokens } = this.reported;
    return {
      ...this.reported,
      inputTokens: inputTokens ?? (typeof this.inputEstimate === 'function' ? this.inputEstimate() : this.inputEstimate),
      outputTokens: outputTokens ?? estimateTokensOfLength(this.outputChars),
      estimated: inputTokens === undefined || outputTokens === undefined,
      complete: this.finished,
    };
  }
}
