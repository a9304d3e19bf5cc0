import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { RefusalPacer } from './refusal-pacer';

describe('RefusalPacer', () => {
  it('answers a first refusal, and one that comes after its Retry-After, at once', () => {
    let now = 0;
    const pacer = new RefusalPacer<object>(5_000, () => now);
    const conn = {};
    assert.equal(pacer.hold(conn, 1), 0);
    now += 1_000;
    assert.equal(pacer.hold(conn, 1), 0, 'the client waited its Retry-After');
  });

  it('holds a connection that retries at once until its Retry-After ran out, so it is paced at one refusal per Retry-After', () => {
    let now = 0;
    const pacer = new RefusalPacer<object>(5_000, () => now);
    const conn = {};
    assert.equal(pacer.hold(conn, 1), 0);
    now += 10;
    assert.equal(pacer.hold(conn, 1), 990);
    now += 990 + 5; // answered after the hold; the client retries at once again
    assert.equal(pacer.hold(conn, 1), 995);
  });

  it('does not hold another connection, and never longer than the cap', () => {
    let now = 0;
    const pacer = new RefusalPacer<object>(2_000, () => now);
    const spinner = {};
    pacer.hold(spinner, 5);
    assert.equal(pacer.hold({}, 5), 0, 'another client is answered at once');
    now += 1;
    assert.equal(pacer.hold(spinner, 5), 2_000);
  });
});
