import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { AuthThrottle } from './auth-throttle';

describe('AuthThrottle', () => {
  const clock = () => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('blocks an address after maxFailures within the window, for blockMs', () => {
    const c = clock();
    const throttle = new AuthThrottle({ maxFailures: 3, windowMs: 10_000, blockMs: 5_000 }, c.now);
    throttle.recordFailure('10.0.0.1');
    throttle.recordFailure('10.0.0.1');
    assert.equal(throttle.retryAfterMs('10.0.0.1'), 0);
    throttle.recordFailure('10.0.0.1');
    assert.equal(throttle.retryAfterMs('10.0.0.1'), 5_000);
    assert.equal(throttle.retryAfterMs('10.0.0.2'), 0, 'other addresses are not affected');
    c.advance(4_999);
    assert.equal(throttle.retryAfterMs('10.0.0.1'), 1);
    c.advance(1);
    assert.equal(throttle.retryAfterMs('10.0.0.1'), 0);
  });

  it('counts failures per window: slow failures never block', () => {
    const c = clock();
    const throttle = new AuthThrottle({ maxFailures: 3, windowMs: 1_000, blockMs: 5_000 }, c.now);
    for (let i = 0; i < 10; i++) {
      throttle.recordFailure('a');
      c.advance(600);
    }
    assert.equal(throttle.retryAfterMs('a'), 0);
  });

  it('forgets failures on success, but a success does not lift a block', () => {
    const c = clock();
    const throttle = new AuthThrottle({ maxFailures: 2, windowMs: 10_000, blockMs: 5_000 }, c.now);
    throttle.recordFailure('a');
    throttle.recordSuccess('a');
    throttle.recordFailure('a');
    assert.equal(throttle.retryAfterMs('a'), 0, 'the earlier failure was forgotten');
    throttle.recordFailure('a');
    assert.ok(throttle.retryAfterMs('a') > 0);
    throttle.recordSuccess('a');
    assert.ok(throttle.retryAfterMs('a') > 0);
  });

  it('stays within maxAddresses under a flood of addresses', () => {
    const throttle = new AuthThrottle({ maxAddresses: 100, maxFailures: 1 });
    for (let i = 0; i < 10_000; i++) throttle.recordFailure(`addr-${i}`);
    assert.equal(throttle.size, 100);
    assert.ok(throttle.retryAfterMs('addr-9999') > 0, 'the most recent are kept');
    assert.equal(throttle.retryAfterMs('addr-0'), 0);
  });
});
