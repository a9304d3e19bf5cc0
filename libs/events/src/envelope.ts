import { z } from 'zod';
import { EventBusError } from './event-bus.error';
import {
  eventCatalog,
  isEventType,
  type EventMap,
  type EventTopic,
  type EventType,
  type EventTypeOnTopic,
  type EventVersion,
} from './event-map';
import { compileFastCheck } from './fast-check';
import { fitPayload } from './payload-fit';
import { uuidv7 } from './uuidv7.util';

/**
 * CloudEvents-style envelope around every ASC event. The Kafka key is `tenantId`, so one
 * tenant's events stay ordered; `id` is a UUIDv7 and is the idempotency key for consumers
 * (delivery is at-least-once).
 */
export interface EventEnvelope<T extends EventType> {
  id: string;
  type: T;
  version: EventVersion<T>;
  /** Who emitted it, e.g. 'asc/ingress'. */
  source: string;
  /** ISO-8601 time the event was created. */
  time: string;
  tenantId: string;
  /** W3C trace context of the request that caused the event. */
  traceparent?: string;
  data: EventMap[T];
}

/** Any event the catalog knows, discriminated by `type`. */
export type AnyEventEnvelope = { [T in EventType]: EventEnvelope<T> }[EventType];

/** The envelopes a consumer of topics P receives. */
export type EventOnTopic<P extends EventTopic> = { [T in EventTypeOnTopic<P>]: EventEnvelope<T> }[EventTypeOnTopic<P>];

export interface EventContext {
  tenantId: string;
  source: string;
  traceparent?: string;
}

const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A client-supplied trace header is untrusted: an invalid one is dropped, never fatal. */
function cleanTraceparent(value: unknown): string | undefined {
  return typeof value === 'string' && value.length === 55 && TRACEPARENT.test(value) && !value.startsWith('ff')
    ? value
    : undefined;
}

const contextSchema = z.object({
  tenantId: z.string().min(1).max(256),
  source: z.string().min(1).max(256),
});

const envelopeSchema = z.object({
  id: z.string().uuid(),
  type: z.string().min(1).max(256),
  version: z.number().int().positive(),
  source: z.string().min(1).max(256),
  time: z.string().datetime({ offset: true }),
  tenantId: z.string().min(1).max(256),
  traceparent: z.unknown().optional(),
  data: z.unknown(),
});

const envelopeFastCheck = compileFastCheck(envelopeSchema);

/** Field paths and issue kinds only: messages about a payload never quote its values. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.code}`)
    .join('; ');
}

function payloadTenant(data: unknown): unknown {
  return typeof data === 'object' && data !== null && 'tenantId' in data ? data.tenantId : undefined;
}

/**
 * Builds a validated envelope. Oversize input is fitted first (fitPayload: strings cut to
 * their field's max, numbers clamped into range), whoever the caller, so a served request
 * always leaves an event. Throws EventBusError('invalid_event') when the payload still does
 * not match its schema (a missing id, an unknown enum value) or names another tenant than
 * the context: that is a bug in the emitter, better caught here than dead-lettered by every
 * consumer.
 */
export function createEvent<T extends EventType>(type: T, context: EventContext, data: EventMap[T]): EventEnvelope<T> {
  const definition = eventCatalog[type];
  if (!definition) throw new EventBusError('invalid_event', `unknown event type ${String(type)}`);
  const ctx = contextSchema.safeParse(context);
  if (!ctx.success) throw new EventBusError('invalid_event', `${type}: invalid context (${describeIssues(ctx.error)})`);
  const schema = definition.schema as z.ZodType<EventMap[T]>;
  const payload = schema.safeParse(fitPayload(schema, data));
  if (!payload.success) throw new EventBusError('invalid_event', `${type}: invalid payload (${describeIssues(payload.error)})`);
  const dataTenant = payloadTenant(payload.data);
  if (dataTenant !== undefined && dataTenant !== ctx.data.tenantId) {
    throw new EventBusError('invalid_event', `${type}: payload tenantId differs from the envelope's`);
  }
  const now = Date.now();
  const event: EventEnvelope<T> = {
    id: uuidv7(now),
    type,
    version: definition.version as EventVersion<T>,
    source: ctx.data.source,
    time: new Date(now).toISOString(),
    tenantId: ctx.data.tenantId,
    data: payload.data,
  };
  const traceparent = cleanTraceparent(context.traceparent);
  if (traceparent) {
    event.traceparent = traceparent;
    // The trace id travels in the payload too, so sinks (ClickHouse, audit) store it as a column.
    const payload = event.data as { traceId?: unknown };
    if (payload.traceId === '') payload.traceId = traceparent.slice(3, 35);
  }
  return event;
}

export function serializeEvent(event: AnyEventEnvelope): string {
  return JSON.stringify(event);
}

/** Why a message went to the dead-letter handler instead of handleBatch. */
export type DeadLetterCode =
  | 'empty_message'
  | 'malformed_json'
  | 'invalid_envelope'
  | 'unknown_type'
  | 'unsupported_version'
  | 'invalid_payload'
  | 'tenant_mismatch'
  | 'unexpected_topic';

export type ParseEventResult =
  | { ok: true; event: AnyEventEnvelope }
  | { ok: false; code: DeadLetterCode; detail: string };

/**
 * Parses and validates one message. Never throws: whatever arrives on a topic (garbage,
 * an unknown type, a version this code cannot read) comes back as a reason for the
 * dead-letter handler, so one bad message cannot crash or wedge a consumer.
 */
export function parseEvent(raw: string | Uint8Array | null | undefined): ParseEventResult {
  if (raw === null || raw === undefined || raw.length === 0) {
    return { ok: false, code: 'empty_message', detail: 'message has no value' };
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
  } catch {
    return { ok: false, code: 'malformed_json', detail: 'message is not valid JSON' }; // V8's message quotes the input
  }
  // The compiled check first (same schema, several times faster); zod gives the verdict and the reason otherwise.
  const fast = envelopeFastCheck(json);
  let checked: z.infer<typeof envelopeSchema>;
  if (fast.ok) checked = fast.value as z.infer<typeof envelopeSchema>;
  else {
    const envelope = envelopeSchema.safeParse(json);
    if (!envelope.success) return { ok: false, code: 'invalid_envelope', detail: describeIssues(envelope.error) };
    checked = envelope.data;
  }
  const { type, version, data, traceparent, ...rest } = checked;
  if (!isEventType(type)) return { ok: false, code: 'unknown_type', detail: `unknown event type ${type.slice(0, 100)}` };
  const definition = eventCatalog[type];
  if (version !== definition.version) {
    return { ok: false, code: 'unsupported_version', detail: `${type} version ${version}, this consumer reads ${definition.version}` };
  }
  const fastPayload = compileFastCheck(definition.schema)(data);
  const payload = fastPayload.ok ? { success: true as const, data: fastPayload.value } : definition.schema.safeParse(data);
  if (!payload.success) return { ok: false, code: 'invalid_payload', detail: `${type}: ${describeIssues(payload.error)}` };
  const dataTenant = payloadTenant(payload.data);
  if (dataTenant !== undefined && dataTenant !== rest.tenantId) {
    return { ok: false, code: 'tenant_mismatch', detail: `${type}: payload tenantId differs from the envelope's` };
  }
  const event = { ...rest, type, version, data: payload.data } as AnyEventEnvelope; // validated above
  const trace = cleanTraceparent(traceparent);
  if (trace) event.traceparent = trace;
  return { ok: true, event };
}
