import type { IncomingHttpHeaders } from 'node:http';
import type { SimulatorError } from './simulator.error';
import type { FaultMode, ProviderId, RouteId } from './simulator.types';

/** Per-request behaviour: server-wide settings overridden by x-sim-* headers. */
export interface RequestKnobs {
  latencyMs: number;
  ttftMs: number;
  tokensPerSec: number;
  /** Minimum gap between paced writes; events due meanwhile share one write. */
  chunkIntervalMs: number;
  fault: FaultMode | null;
  /** Generated tokens sent before a midstream fault; default half of them. */
  failAfterTokens: number | null;
  retryAfterSec: number | null;
  replyWords: number | undefined;
  replyText: string | undefined;
  forceTool: string | boolean | undefined;
  cachedTokens: number;
}

export interface ApiRequest {
  route: RouteId;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  knobs: RequestKnobs;
  embeddingDims: number | undefined;
}

export interface StreamDelta {
  frame: string;
  /** Generated tokens carried by this frame (drives tokens-per-second pacing). */
  tokens: number;
}

/** The usage a response reports, in one provider-neutral form (input includes cached tokens). */
export interface ReportedUsage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
}

export type Outcome =
  | { kind: 'json'; status: number; body: unknown; tokens: number; usage?: ReportedUsage }
  | {
      kind: 'sse';
      /** Usage the full stream reports (absent for responses that report none). */
      usage?: ReportedUsage;
      /** Frames sent as soon as the headers go out (before time-to-first-token). */
      head: string;
      deltas: StreamDelta[];
      tail: string;
      /** The provider's in-band error event, for `error-midstream`. */
      errorFrame: string;
      tokens: number;
    };

export interface ProviderWire {
  provider: ProviderId;
  requestIdHeader: string;
  newRequestId(): string;
  /** The API key the request presents, or null. */
  apiKey(headers: IncomingHttpHeaders): string | null;
  errorBody(err: SimulatorError, requestId: string): unknown;
  /** Checks done after authentication and before the body is read (e.g. anthropic-version). */
  preflight?(route: RouteId, headers: IncomingHttpHeaders): void;
  handle(req: ApiRequest): Outcome;
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One server-sent event; `event: null` gives a data-only event. */
export function sse(event: string | null, data: unknown): string {
  const json = typeof data === 'string' ? data : JSON.stringify(data);
  return event ? `event: ${event}\ndata: ${json}\n\n` : `data: ${json}\n\n`;
}

export function bearerKey(headers: IncomingHttpHeaders): string | null {
  const auth = headers.authorization;
  if (typeof auth !== 'string') return null;
  const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
  return m && m[1].trim() ? m[1].trim() : null;
}

/** Text and image count of a message content in any of the providers' shapes. */
export function contentText(content: unknown): { text: string; images: number } {
  if (typeof content === 'string') return { text: content, images: 0 };
  if (!Array.isArray(content)) return { text: '', images: 0 };
  let text = '';
  let images = 0;
  for (const part of content) {
    if (typeof part === 'string') {
      text += (text ? '\n' : '') + part;
      continue;
    }
    if (!isRecord(part)) continue;
    const type = part.type;
    if (typeof part.text === 'string') text += (text ? '\n' : '') + part.text;
    else if (type === 'tool_result') {
      const inner = contentText(part.content);
      text += (text ? '\n' : '') + inner.text;
      images += inner.images;
    } else if (type === 'image_url' || type === 'input_image' || type === 'image') images++;
  }
  return { text, images };
}

export function stopList(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string');
  return [];
}
