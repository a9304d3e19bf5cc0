export const INGRESS_OPTIONS = Symbol('INGRESS_OPTIONS');
export const EVENT_PUBLISHER = Symbol('EVENT_PUBLISHER');
export const UPSTREAM_CLIENT = Symbol('UPSTREAM_CLIENT');

export interface IngressOptions {
  /** Time allowed for the provider's headers, and between two streamed chunks. */
  upstreamTimeoutMs: number;
}
