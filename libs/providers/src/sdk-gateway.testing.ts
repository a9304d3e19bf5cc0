import type { IncomingMessage } from 'node:http';
import { ANTHROPIC_API_VERSION } from './anthropic-messages.codec';
import type { WireApi } from './translation.registry';

// Shared by the SDK fidelity specs, which put a tiny translating server between an official
// SDK and the simulator. Test-only: not exported from the library.

export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** Headers for the simulator as `api`, passing on the caller's x-sim-* knobs. */
export function simulatorHeaders(api: WireApi, incoming: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (api === 'anthropic') Object.assign(headers, { 'x-api-key': 'sk-upstream', 'anthropic-version': ANTHROPIC_API_VERSION });
  else headers.authorization = 'Bearer sk-upstream';
  for (const [k, v] of Object.entries(incoming.headers)) if (k.startsWith('x-sim-') && typeof v === 'string') headers[k] = v;
  return headers;
}
