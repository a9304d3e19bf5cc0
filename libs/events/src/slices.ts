import { performance } from 'node:perf_hooks';

/**
 * Synchronous work allowed between two turns of the event loop. A sink that shares its
 * process with request handling (embedded mode: batches of thousands of events parsed,
 * encoded, hash-chained) must not hold requests up for a whole batch: every request waiting
 * on the loop waits for the slice that runs, so the slice bounds what a batch adds to their
 * latency. Counted in time, not items: an item's cost moves with the machine and the load
 * (a fixed 250 items was 7–17 ms a slice under the noisy-tenant bench, docs/benchmarks.md).
 */
export const SLICE_MS = 2;

/**
 * Batches that wait for their next slice, first come first served: one is let go per turn
 * of the event loop (in its check phase), so several batches in flight — metering's, the
 * audit trail's, the bus's — still add one slice to a turn, not one each.
 */
const waiting: Array<() => void> = [];
let granting = false;

function grantOne(): void {
  granting = false;
  waiting.shift()?.();
  if (waiting.length) grantNextTurn();
}

function grantNextTurn(): void {
  if (granting) return;
  granting = true;
  setImmediate(grantOne);
}

/** Resolves in a later turn of the event loop than this one, once the batches ahead had theirs. */
function nextSlice(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    grantNextTurn();
  });
}

/**
 * Tells a loop over a batch when to give the event loop a turn (see SLICE_MS). A batch's
 * first slice runs in the turn that hands the batch over; each later one waits its turn.
 */
export class Slicer {
  private since: number;

  constructor(
    private readonly sliceMs = SLICE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.since = now();
  }

  /** A turn to await when this slice has run its time, else undefined (go on at once). */
  due(): Promise<void> | undefined {
    if (this.now() - this.since < this.sliceMs) return undefined;
    return nextSlice().then(() => {
      this.since = this.now();
    });
  }
}

/** `items.map(fn)`, giving the event loop a turn whenever a slice has run SLICE_MS. */
export async function mapInSlices<T, U>(items: readonly T[], fn: (item: T, index: number) => U, slicer = new Slicer()): Promise<U[]> {
  const out = new Array<U>(items.length);
  for (let i = 0; i < items.length; i++) {
    const turn = slicer.due();
    if (turn) await turn;
    out[i] = fn(items[i], i);
  }
  return out;
}
