/**
 * kafkajs 2.2.4, its last release, re-arms a timer forever on every idle broker connection:
 * RequestQueue.scheduleCheckPendingRequests computes `throttledUntil - Date.now()`, which is
 * negative when nothing is throttled (throttledUntil starts at -1), and with nothing pending
 * it arms setTimeout with that (Node runs it after 1 ms), whose callback schedules again.
 * Reported as tulios/kafkajs#1556, #1604 and #1704; the fixes (#1667, #1768) are not merged.
 * Measured here: each idle service process woke the event loop ~1,500 times a second and spent
 * ~30 ms of CPU a second doing nothing, about 3 % of a core for every process of the suite.
 *
 * The replacement is the fix proposed on #1768: with nothing pending and no throttle there is
 * nothing to check, and push() schedules a check itself when it queues a request. Only the
 * release whose code we read is patched.
 */
const PATCHED = Symbol.for('asc.kafkajs.idleLoopFixed');
/** kafkajs's CHECK_PENDING_REQUESTS_INTERVAL. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

interface RequestQueueLike {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null | undefined;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

export function fixKafkaJsIdleLoop(): boolean {
  // kafkajs has no exports map: its package.json and source files are plain requires.
  const { version } = require('kafkajs/package.json') as { version: string };
  if (version !== '2.2.4') return false;
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueueLike & { [PATCHED]?: true } };
  const proto = RequestQueue.prototype;
  if (proto[PATCHED]) return true;
  proto.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueLike): void {
    if (this.throttleCheckTimeoutId) return;
    let scheduleAt = this.throttledUntil - Date.now();
    if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL_MS;
    else if (scheduleAt <= 0) return;
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, scheduleAt);
  };
  proto[PATCHED] = true;
  return true;
}
