import { hash } from 'node:crypto';
import { canonicalJson, canonicalObjectJson } from '@asc/audit-proof';
import { SpendError } from './spend.error';

/**
 * Request fields that do not change the answer and so stay out of the key: how it is
 * delivered (stream, stream_options), who asks for metering (user, metadata) and storage
 * flags. Everything else — messages, tools, temperature, seed, max tokens, response
 * format, n… — changes the answer and is part of the key.
 */
export const CACHE_NEUTRAL_FIELDS: ReadonlySet<string> = new Set(['stream', 'stream_options', 'user', 'metadata', 'store']);

export interface ResponseCacheKeyInput {
  tenantId: string;
  /** The model alias the client asked for (not the deployment: a different deployment of the same alias may answer). */
  modelAlias: string;
  /** The canonical request (after inbound translation), as JSON data. */
  request: Record<string, unknown>;
  /** Answer-changing options outside the request body (e.g. the policy's redaction version, the routing pin). */
  options?: Record<string, unknown>;
}

/**
 * `<tenant>:<sha256 hex>` over tenant, alias, the canonical request (keys sorted,
 * neutral fields dropped) and options. The tenant is both hashed and the key's prefix, so
 * two tenants sending the same prompt never share an entry and an entry reveals nothing
 * about what another tenant asked.
 */
export function responseCacheKey(input: ResponseCacheKeyInput): string {
  if (!input.tenantId) throw new SpendError('spend_invalid_input', 'tenantId is required');
  if (!input.modelAlias) throw new SpendError('spend_invalid_input', 'modelAlias is required');
  // canonicalJson({ t, m, r, o }) with the neutral fields left out of r, written in one pass
  // (keys in canonical order: m, o, r, t) instead of copying the request first.
  const json = `{"m":${canonicalJson(input.modelAlias)},"o":${canonicalJson(input.options ?? {})},"r":${canonicalObjectJson(input.request, CACHE_NEUTRAL_FIELDS)},"t":${canonicalJson(input.tenantId)}}`;
  return `${encodeURIComponent(input.tenantId)}:${hash('sha256', json, 'hex')}`;
}

/** True when the client asked to bypass the cache (`Cache-Control: no-cache` or `no-store`). */
export function cacheBypassRequested(cacheControl: string | undefined): boolean {
  return !!cacheControl && /(^|,)\s*no-(cache|store)\s*(,|$)/i.test(cacheControl);
}
