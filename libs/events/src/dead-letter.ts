import type { DeadLetterReason } from './event-bus.port';

/**
 * The dead-letter topic: every message a consumer could not use (unparseable, invalid, or
 * rejected by its sink as invalid) is written here with the reason and its original bytes,
 * and the consumer's partition moves on. One topic for all source topics and groups: the
 * record says where the message came from, and `tools/dlq` replays it there.
 */
export const TOPIC_DEAD_LETTER_V1 = 'asc.events.deadletter.v1';

/** One dead-lettered message as stored on TOPIC_DEAD_LETTER_V1 (JSON). */
export interface DeadLetterRecord extends DeadLetterReason {
  /** Epoch ms when the consumer gave up on the message. */
  deadLetteredAtMs: number;
  /** The original message value, base64: exactly the bytes that were read, for replay. */
  valueBase64: string;
}

export function encodeDeadLetter(raw: Buffer, reason: DeadLetterReason, nowMs = Date.now()): string {
  const record: DeadLetterRecord = { ...reason, deadLetteredAtMs: nowMs, valueBase64: raw.toString('base64') };
  return JSON.stringify(record);
}

/** Parses a record read back from the dead-letter topic; undefined when it is not one. */
export function decodeDeadLetter(value: Buffer | string | null): DeadLetterRecord | undefined {
  if (value === null) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const r = json as Partial<Record<keyof DeadLetterRecord, unknown>>;
  const strings = ['code', 'detail', 'groupId', 'topic', 'offset', 'valueBase64'] as const;
  if (strings.some((k) => typeof r[k] !== 'string') || typeof r.partition !== 'number' || typeof r.deadLetteredAtMs !== 'number') {
    return undefined;
  }
  return json as DeadLetterRecord;
}

/** The original bytes of a dead-lettered message. */
export function originalValue(record: DeadLetterRecord): Buffer {
  return Buffer.from(record.valueBase64, 'base64');
}

/** Where a bus writes dead letters when a subscription brings no handler of its own. Rejects if the write may have failed. */
export type DeadLetterSink = (raw: Buffer, reason: DeadLetterReason) => Promise<void>;
