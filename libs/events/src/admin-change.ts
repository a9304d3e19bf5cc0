import { createEvent } from './envelope';
import { EventPublisher } from './event-bus.port';
import { AdminChangeValue, EVENT_ADMIN_CHANGE_RECORDED } from './event-map';

/** The actor of a change made with the shared admin token (no individual caller identity). */
export const ADMIN_ACTOR_OPERATOR = 'operator';

export interface AdminChange {
  /** The tenant concerned, or ALL_TENANTS for a platform-wide entity. */
  tenantId: string;
  action: string;
  targetType: string;
  targetId: string;
  /** The entity before and after (as the admin API shows it); secrets are redacted here. */
  before?: unknown;
  after?: unknown;
  actor?: string;
  requestId?: string;
}

// Field names whose values are secrets wherever they appear (a key's plaintext, a provider credential).
const SECRET_FIELD = /(^key$|secret|password|passphrase|token$|authorization|private_?key|api_?key$|plaintext|ciphertext|wrapped_?dek)/i;
const MAX_DEPTH = 8;

/** A JSON copy of `value` with every secret-named field replaced by '[redacted]' (dates as ISO strings, buffers dropped). */
export function redactSecrets(value: unknown, depth = 0): AdminChangeValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return '[binary]';
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  if (typeof value === 'object') {
    const out: { [key: string]: AdminChangeValue } = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function') continue;
      out[k] = SECRET_FIELD.test(k) && v !== null ? '[redacted]' : redactSecrets(v, depth + 1);
    }
    return out;
  }
  return null;
}

/**
 * Records a successful mutating admin call in the audit trail (one line per controller
 * method). Like publishConfigChange it never throws and never blocks the admin call: a
 * service started without a publisher (null) records nothing.
 */
export function publishAdminChange(events: EventPublisher | null, source: string, change: AdminChange): void {
  if (!events) return;
  events.publish(
    createEvent(
      EVENT_ADMIN_CHANGE_RECORDED,
      { tenantId: change.tenantId, source },
      {
        tenantId: change.tenantId,
        actor: change.actor || ADMIN_ACTOR_OPERATOR,
        action: change.action,
        targetType: change.targetType,
        targetId: change.targetId,
        before: redactSecrets(change.before),
        after: redactSecrets(change.after),
        requestId: change.requestId ?? '',
        occurredAtMs: Date.now(),
      },
    ),
  );
}
