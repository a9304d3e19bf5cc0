export type EventBusErrorCode =
  /** createEvent was given a payload or context that does not match the event's schema. */
  | 'invalid_event'
  /** subscribe was called with no topics, an unknown topic or an empty group id. */
  | 'invalid_subscription'
  /** flush did not complete before its deadline (the events stay buffered). */
  | 'flush_timeout'
  /** The bus was closed. */
  | 'bus_closed';

/** The events domain's one error type; `code` is stable and machine readable. */
export class EventBusError extends Error {
  constructor(
    readonly code: EventBusErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EventBusError';
  }
}
