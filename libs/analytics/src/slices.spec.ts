import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ITEMS_PER_TURN, mapInSlices } from './slices';

describe('mapInSlices', () => {
  it('maps like Array.prototype.map (values, order, index)', async () => {
    const items = Array.from({ length: ITEMS_PER_TURN * 3 + 7 }, (_, i) => i);
    assert.deepEqual(await mapInSlices(items, (x, i) => x * 2 + i), items.map((x, i) => x * 2 + i));
    assert.deepEqual(await mapInSlices([], (x) => x), []);
  });

  it('lets timers and I/O callbacks run between slices of a large batch', async () => {
    const order: string[] = [];
    setImmediate(() => order.push('other work'));
    await mapInSlices(Array.from({ length: ITEMS_PER_TURN * 2 }, (_, i) => i), (x) => {
      if (x === 0 || x === ITEMS_PER_TURN * 2 - 1) order.push(`item ${x}`);
      return x;
    });
    assert.deepEqual(order, ['item 0', 'other work', `item ${ITEMS_PER_TURN * 2 - 1}`]);
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
