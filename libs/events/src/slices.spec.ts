import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { mapInSlices, Slicer } from './slices';

/** A clock that moves only when the test says so. */
function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('mapInSlices', () => {
  it('maps like Array.prototype.map (values, order, index)', async () => {
    const items = Array.from({ length: 1007 }, (_, i) => i);
    assert.deepEqual(await mapInSlices(items, (x, i) => x * 2 + i), items.map((x, i) => x * 2 + i));
    assert.deepEqual(await mapInSlices([], (x) => x), []);
  });

  it('gives the event loop a turn once a slice has run its time, not before', async () => {
    const clock = manualClock();
    const order: string[] = [];
    setImmediate(() => order.push('other work'));
    await mapInSlices(
      Array.from({ length: 10 }, (_, i) => i),
      (x) => {
        order.push(`item ${x}`);
        clock.advance(0.5); // 4 items fill a 2 ms slice
        return x;
      },
      new Slicer(2, clock.now),
    );
    assert.deepEqual(order, ['item 0', 'item 1', 'item 2', 'item 3', 'other work', 'item 4', 'item 5', 'item 6', 'item 7', 'item 8', 'item 9']);
  });

  it('runs a batch that fits in one slice without a turn', async () => {
    const clock = manualClock();
    const order: string[] = [];
    setImmediate(() => order.push('other work'));
    await mapInSlices([0, 1, 2], (x) => order.push(`item ${x}`), new Slicer(2, clock.now));
    assert.deepEqual(order, ['item 0', 'item 1', 'item 2']);
  });

  it('stops at the first throw, as a map would', async () => {
    await assert.rejects(
      mapInSlices([1, 2, 3], (x) => {
        if (x === 2) throw new Error('bad row');
        return x;
      }),
      /bad row/,
    );
  });
});

describe('Slicer', () => {
  it('lets one batch slice run per turn of the event loop, however many batches are in flight', async () => {
    const clock = manualClock();
    const order: string[] = [];
    // Other work arriving every turn (a request's I/O callback, say).
    let turns = 0;
    const tick = () => {
      order.push('turn');
      if (++turns < 20) setImmediate(tick);
    };
    setImmediate(tick);
    const batch = (name: string) =>
      mapInSlices(
        [0, 1, 2, 3, 4, 5],
        (x) => {
          order.push(`${name}${x}`);
          clock.advance(1); // 2 items a slice
        },
        new Slicer(2, clock.now),
      );
    await Promise.all([batch('a'), batch('b')]);
    // Between two turns, at most one slice (two items of one batch) ran; only the batches'
    // first slices run together, in the turn that hands them over.
    const between = order.join(' ').split('turn').map((s) => s.trim()).filter(Boolean);
    for (const run of between) assert.ok(run.split(' ').length <= 2 || run === 'a0 a1 b0 b1', `too much work in one turn: ${run}`);
    assert.deepEqual(order.filter((x) => x.startsWith('a')), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
    assert.deepEqual(order.filter((x) => x.startsWith('b')), ['b0', 'b1', 'b2', 'b3', 'b4', 'b5']);
  });
});
