import { z } from 'zod';

/** Kafka topics, named `asc.<domain>.<event>.v<N>`. A topic's name changes only with a breaking change. */
export const TOPIC_GATEWAY_REQUEST_V1 = 'asc.gateway.request.v1';
export const TOPIC_CONTROL_CONFIG_V1 = 'asc.control.config.v1';
export const TOPIC_ADMIN_CHANGE_V1 = 'asc.admin.change.v1';

/** Event types. The payload's version travels in the envelope (`version`), not in the name. */
export const EVENT_GATEWAY_REQUEST_COMPLETED = 'asc.gateway.request.completed';
export const EVENT_CONTROL_CONFIG_CHANGED = 'asc.control.config.changed';
export const EVENT_ADMIN_CHANGE_RECORDED = 'asc.admin.change.recorded';

/** The tenant id of a change that concerns every tenant (a platform deployment or credential). */
export const ALL_TENANTS = '*';

/**
 * Emitted by policy, routing and secrets after a write that changes what the data plane
 * may serve, so every ingress drops the cached answers it affects at once instead of
 * waiting for their TTL (a revoked key stops working immediately).
 */
export interface ConfigChangedV1 {
  /** The tenant concerned, or ALL_TENANTS. */
  tenantId: string;
  kind: 'api_key' | 'policy' | 'deployment' | 'credential';
  /** Id of the key, policy, deployment or credential that changed. */
  entityId: string;
  /** For api_key: the SHA-256 digest of the key (what ingress caches under; never the key). */
  keyHash: string;
}

/**
 * Emitted by ingress once per request that completed, was denied or failed. The request
 * path fills every field; a stage the request never reached leaves its strings empty ('')
 * and its numbers 0 (e.g. a denied request has no servedModel/provider/deploymentId), so
 * consumers and ClickHouse columns never deal with null.
 */
export interface RequestCompletedV1 {
  requestId: string;
  /** From the authenticated key, never from the request body. Equals the envelope's tenantId. */
  tenantId: string;
  appId: string;
  keyId: string;
  /** The API shape the client called, e.g. 'openai.chat.completions', 'anthropic.messages'. */
  api: string;
  stream: boolean;
  requestedModel: string;
  servedModel: string;
  provider: string;
  deploymentId: string;
  region: string;
  /** Which credential (id + version) served the request; never the credential itself. */
  credentialId: string;
  credentialVersion: number;
  policyId: string;
  policyVersion: number;
  decision: 'allow' | 'deny';
  /** Machine-readable reason for a deny or a failure ('' when allowed and ok). */
  reasonCode: string;
  status: 'ok' | 'denied' | 'client_error' | 'upstream_error' | 'cancelled';
  /** Status returned to the client (0 when the client went away before any response). */
  httpStatus: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  /**
   * Reasoning/thinking tokens the provider reported, a subset of outputTokens; 0 when not
   * reported. Optional for producers older than the field: parsing fills 0.
   */
  reasoningTokens?: number;
  /**
   * True when a token count is the gateway's estimate rather than the provider's report
   * (a stream the client abandoned before the provider's usage arrived). Optional for
   * producers older than the field: parsing fills false.
   */
  usageEstimated?: boolean;
  costUsd: number;
  latencyMs: number;
  /** Time to first token; 0 if not streamed. */
  ttftMs: number;
  /** Unix epoch milliseconds when ingress accepted the request. */
  startedAtMs: number;
  /**
   * Every upstream attempt in order (the last one served, when the request succeeded);
   * deploymentId above is the deployment that served or was tried last. Optional for
   * producers older than the field: parsing fills [].
   */
  attempts?: RequestAttemptV1[];
  /** Attempts after the first (fallbacks and retries); parsing fills 0. */
  fallbackCount?: number;
  /**
   * The routing configuration version the request was routed under (routing's Plan answer);
   * 0 when unknown. Optional for producers older than the field: parsing fills 0.
   */
  routingVersion?: number;
}

/** One try of one deployment within a request. */
export interface RequestAttemptV1 {
  deploymentId: string;
  provider: string;
  region: string;
  /** 'ok' or 'failed'. */
  status: string;
  /** Why it failed ('upstream_503', 'timeout_ttft', 'connect_error'…); '' when ok. */
  reasonCode: string;
  latencyMs: number;
}

/** A JSON value carried in an admin change's before/after. */
export type AdminChangeValue = null | boolean | number | string | AdminChangeValue[] | { [key: string]: AdminChangeValue };

/**
 * Emitted by policy, routing and secrets for every mutating admin call, after it
 * succeeded; audit appends it to the tenant's hash chain (ALL_TENANTS: the platform chain).
 * before/after are the entity as the admin API shows it, with secrets redacted
 * (see publishAdminChange); null for a create's before and a delete's after.
 */
export interface AdminChangeRecordedV1 {
  tenantId: string;
  /** Who made the change: the caller identity, or 'operator' for the shared admin token. */
  actor: string;
  /** What was done, e.g. 'tenant.create', 'api_key.revoke', 'deployment.update'. */
  action: string;
  targetType: string;
  targetId: string;
  before: AdminChangeValue;
  after: AdminChangeValue;
  /** The admin request's id (x-request-id, or one generated for it). */
  requestId: string;
  /** Unix epoch milliseconds when the change was made. */
  occurredAtMs: number;
}

const text = (max = 256) => z.string().max(max);
const count = () => z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const millis = () => z.number().nonnegative().finite();

/**
 * Shape check for parse and create; unknown extra fields are dropped (additive changes stay
 * v1). A field added later carries a `.default()`, so a payload from an older producer still
 * parses and consumers always see it filled.
 */
const requestCompletedV1Schema: z.ZodType<RequestCompletedV1> = z.object({
  requestId: text().min(1),
  tenantId: text().min(1),
  appId: text(),
  keyId: text(),
  api: text(128),
  stream: z.boolean(),
  requestedModel: text(),
  servedModel: text(),
  provider: text(128),
  deploymentId: text(),
  region: text(128),
  credentialId: text(),
  credentialVersion: count(),
  policyId: text(),
  policyVersion: count(),
  decision: z.enum(['allow', 'deny']),
  reasonCode: text(128),
  status: z.enum(['ok', 'denied', 'client_error', 'upstream_error', 'cancelled']),
  httpStatus: z.number().int().min(0).max(599),
  inputTokens: count(),
  outputTokens: count(),
  cachedInputTokens: count(),
  reasoningTokens: count().default(0),
  usageEstimated: z.boolean().default(false),
  costUsd: z.number().nonnegative().finite(),
  latencyMs: millis(),
  ttftMs: millis(),
  startedAtMs: count(),
  attempts: z
    .array(
      z.object({
        deploymentId: text(),
        provider: text(128),
        region: text(128),
        status: text(32),
        reasonCode: text(128),
        latencyMs: millis(),
      }),
    )
    .max(16)
    .default([]),
  fallbackCount: count().default(0),
  routingVersion: count().default(0),
});

const adminChangeValue: z.ZodType<AdminChangeValue> = z.lazy(() =>
  z.union([z.null(), z.boolean(), z.number().finite(), z.string(), z.array(adminChangeValue), z.record(adminChangeValue)]),
);

const adminChangeRecordedV1Schema: z.ZodType<AdminChangeRecordedV1> = z.object({
  tenantId: text().min(1),
  actor: text().min(1),
  action: text(128).min(1),
  targetType: text(128).min(1),
  targetId: text(),
  before: adminChangeValue,
  after: adminChangeValue,
  requestId: text(),
  occurredAtMs: count(),
});

const configChangedV1Schema: z.ZodType<ConfigChangedV1> = z.object({
  tenantId: text().min(1),
  kind: z.enum(['api_key', 'policy', 'deployment', 'credential']),
  entityId: text().min(1),
  keyHash: z.string().regex(/^([0-9a-f]{64})?$/),
});

/** One typed map from event type to payload (immich's EventMap): emits are never stringly typed. */
export interface EventMap {
  [EVENT_GATEWAY_REQUEST_COMPLETED]: RequestCompletedV1;
  [EVENT_CONTROL_CONFIG_CHANGED]: ConfigChangedV1;
  [EVENT_ADMIN_CHANGE_RECORDED]: AdminChangeRecordedV1;
}

export type EventType = keyof EventMap;

interface EventDefinition<T extends EventType> {
  topic: string;
  version: number;
  schema: z.ZodType<EventMap[T]>;
}

/**
 * Where each event type lives and which payload version this code reads and writes.
 * Adding an event type: extend EventMap and add its entry here (the compiler insists).
 */
export const eventCatalog = {
  [EVENT_GATEWAY_REQUEST_COMPLETED]: {
    topic: TOPIC_GATEWAY_REQUEST_V1,
    version: 1,
    schema: requestCompletedV1Schema,
  },
  [EVENT_CONTROL_CONFIG_CHANGED]: {
    topic: TOPIC_CONTROL_CONFIG_V1,
    version: 1,
    schema: configChangedV1Schema,
  },
  [EVENT_ADMIN_CHANGE_RECORDED]: {
    topic: TOPIC_ADMIN_CHANGE_V1,
    version: 1,
    schema: adminChangeRecordedV1Schema,
  },
} as const satisfies { [T in EventType]: EventDefinition<T> };

export type EventTopic = (typeof eventCatalog)[EventType]['topic'];
export type EventVersion<T extends EventType> = (typeof eventCatalog)[T]['version'];

/** The event types published on topic P. */
export type EventTypeOnTopic<P extends EventTopic> = {
  [T in EventType]: (typeof eventCatalog)[T]['topic'] extends P ? T : never;
}[EventType];

/** Every topic that ASC events use (what `ensureTopics` creates). */
export const ALL_TOPICS: readonly EventTopic[] = [
  ...new Set(Object.values(eventCatalog).map((d) => d.topic)),
];

export function topicOf<T extends EventType>(type: T): (typeof eventCatalog)[T]['topic'] {
  return eventCatalog[type].topic;
}

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(eventCatalog, value);
}

export function isEventTopic(value: unknown): value is EventTopic {
  return typeof value === 'string' && (ALL_TOPICS as readonly string[]).includes(value);
}
