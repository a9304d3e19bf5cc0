import { pickSubject, sampleJsonSchema } from './json-schema.sampler';
import { countTokens, IMAGE_TOKENS, MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS, tokenize } from './tokenizer.util';

// Provider-neutral planning of a reply: each provider module maps its request onto a
// GenerationInput and renders the Generation in its own wire format, so stream and
// non-stream answers (and their usage) come from the same plan.

export interface ToolSpec {
  name: string;
  parameters: unknown;
}

export type ToolChoice = { mode: 'auto' | 'none' | 'required' } | { mode: 'named'; name: string };

export type OutputFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; schema: unknown };

export interface GenerationInput {
  /** Text of the last user turn (what the reply echoes). */
  promptText: string;
  /** Set when the conversation ends with tool results: the reply then reports them. */
  toolResultText?: string;
  tools: ToolSpec[];
  toolChoice: ToolChoice;
  /** From `x-sim-tool-call`: a tool name or true forces a call, false forbids one. */
  forceTool?: string | boolean;
  maxTokens?: number;
  stop: string[];
  format: OutputFormat;
  replyWords?: number;
  /** Echoed instead of the prompt (SimulatorOptions.replyText). */
  replyText?: string;
}

export interface TextGeneration {
  kind: 'text';
  text: string;
  /** Token strings of `text`, in order; one stream delta each. */
  pieces: string[];
  finish: 'stop' | 'length' | 'stop_sequence';
  stopSequence: string | null;
  tokens: number;
}

export interface ToolGeneration {
  kind: 'tool';
  name: string;
  /** JSON text of the arguments (valid for the tool's schema). */
  arguments: string;
  argPieces: string[];
  tokens: number;
}

export type Generation = TextGeneration | ToolGeneration;

const MAX_DEFAULT_WORDS = 64;
const CALL_WORDS = /\b(use|call|invoke|run)\b[^.?!]*\b(tool|tools|function|functions)\b/i;

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

/** The echo-ish reply: a fixed lead-in followed by the prompt's words, cycled to length. */
export function replyText(promptText: string, replyWords: number | undefined, lead = ['This', 'is', 'a', 'simulated', 'reply', 'to:']): string {
  const echo = words(promptText);
  const base = echo.length ? [...lead, ...echo] : [...lead.slice(0, -1), 'reply.'];
  const n = replyWords !== undefined ? Math.max(1, Math.floor(replyWords)) : Math.min(base.length, MAX_DEFAULT_WORDS);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(i < base.length ? base[i] : echo.length ? echo[(i - base.length) % echo.length] : 'lorem');
  }
  return out.join(' ');
}

function chooseTool(input: GenerationInput): ToolSpec | undefined {
  const { tools, toolChoice, forceTool } = input;
  if (!tools.length || forceTool === false || toolChoice.mode === 'none') return undefined;
  const byName = (name: string) => tools.find((t) => t.name === name) ?? tools[0];
  if (typeof forceTool === 'string') return byName(forceTool);
  if (forceTool === true) return tools[0];
  if (toolChoice.mode === 'named') return byName(toolChoice.name);
  if (toolChoice.mode === 'required') return mentioned(input) ?? tools[0];
  if (input.toolResultText !== undefined) return undefined; // answer with the results instead
  return mentioned(input) ?? (CALL_WORDS.test(input.promptText) ? tools[0] : undefined);
}

const GENERIC_NAME_PARTS = new Set(['get', 'set', 'list', 'create', 'update', 'delete', 'fetch', 'find', 'make', 'with', 'from', 'tool', 'function']);

/** Name parts that identify a tool: get_current_weather -> current, weather. */
function nameParts(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((p) => p.length >= 4 && !GENERIC_NAME_PARTS.has(p));
}

/** A tool the prompt refers to: by full name first, then by a distinctive word of its name. */
function mentioned(input: GenerationInput): ToolSpec | undefined {
  const prompt = input.promptText.toLowerCase();
  const byName = input.tools.find((t) => prompt.includes(t.name.toLowerCase()));
  if (byName) return byName;
  const promptWords = new Set(prompt.split(/[^a-z0-9]+/));
  return input.tools.find((t) => nameParts(t.name).some((p) => promptWords.has(p)));
}

export function generate(input: GenerationInput): Generation {
  const tool = chooseTool(input);
  if (tool) {
    const args = JSON.stringify(sampleJsonSchema(tool.parameters, pickSubject(input.promptText)));
    const argPieces = tokenize(args);
    return { kind: 'tool', name: tool.name, arguments: args, argPieces, tokens: countTokens(tool.name) + argPieces.length };
  }

  let full: string;
  if (input.toolResultText !== undefined) {
    full = replyText(input.toolResultText, input.replyWords, ['The', 'tool', 'returned:']);
  } else if (input.format.type === 'json_schema') {
    full = JSON.stringify(sampleJsonSchema(input.format.schema, pickSubject(input.promptText)));
  } else if (input.format.type === 'json_object') {
    full = JSON.stringify({ reply: replyText(input.promptText, input.replyWords) });
  } else {
    full = replyText(input.replyText ?? input.promptText, input.replyWords);
  }

  let text = full;
  let finish: TextGeneration['finish'] = 'stop';
  let stopSequence: string | null = null;
  let cut = -1;
  for (const s of input.stop) {
    const i = s ? full.indexOf(s) : -1;
    if (i >= 0 && (cut < 0 || i < cut)) {
      cut = i;
      stopSequence = s;
    }
  }
  if (cut >= 0) {
    text = full.slice(0, cut);
    finish = 'stop_sequence';
  }
  let pieces = tokenize(text);
  if (input.maxTokens !== undefined && pieces.length > input.maxTokens) {
    pieces = pieces.slice(0, Math.max(0, input.maxTokens));
    text = pieces.join('');
    finish = 'length';
    stopSequence = null;
  }
  return { kind: 'text', text, pieces, finish, stopSequence, tokens: pieces.length };
}

/** Accumulates prompt tokens the same way for every provider (and for count_tokens). */
export class PromptMeter {
  private messages = 0;
  private tokens = 0;

  /** One conversation turn (or the system prompt). */
  message(text: string, images = 0): void {
    this.messages++;
    this.tokens += countTokens(text) + images * IMAGE_TOKENS;
  }

  /** Text that costs tokens without being a turn (tool definitions, schemas). */
  extra(text: string): void {
    this.tokens += countTokens(text);
  }

  total(): number {
    return REPLY_PRIMING_TOKENS + this.messages * MESSAGE_OVERHEAD_TOKENS + this.tokens;
  }
}
