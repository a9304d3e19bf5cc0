import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Admission, LoadShedder } from './load-shedder';

/** Admits `n` requests of `tenant`, returning the outcomes (held until released). */
function admitMany(shedder: LoadShedder, tenant: string, n: number): Admission[] {
  return Array.from({ length: n }, () => shedder.admit(tenant));
}
const admitted = (xs: Admission[]) => xs.filter((a) => a.ok).length;

describe('LoadShedder', () => {
  it('lets a tenant alone use the whole cap, then answers overloaded', () => {
    const shedder = new LoadShedder({ maxInFlight: 8, softShare: 0.5 });
    assert.equal(admitted(admitMany(shedder, 'noisy', 8)), 8);
    assert.deepEqual(shedder.admit('noisy'), { ok: false, reason: 'overloaded' });
  });

  it('keeps a quiet tenant its share in the gaps between its requests', () => {
    let now = 0;
    const shedder = new LoadShedder({ maxInFlight: 8, softShare: 0.5, activeWindowMs: 2_000 }, () => now);
    const quiet = shedder.admit('quiet');
    assert.ok(quiet.ok);
    quiet.release(); // the quiet tenant has nothing in flight now, but asked 0.5 s ago
    now += 500;
    const noisy = admitMany(shedder, 'noisy', 20);
    assert.equal(admitted(noisy), 4, 'two active tenants: the noisy one gets 8 / 2');
    assert.deepEqual(noisy.at(-1), { ok: false, reason: 'tenant_over_share' });
    assert.equal(admitted(admitMany(shedder, 'quiet', 4)), 4, 'the quiet tenant finds its share free, not a full cap');
  });

  it('forgets a tenant idle for longer than the window', () => {
    let now = 0;
    const shedder = new LoadShedder({ maxInFlight: 8, softShare: 0.5, activeWindowMs: 2_000 }, () => now);
    const quiet = shedder.admit('quiet');
    assert.ok(quiet.ok);
    quiet.release();
    now += 5_000;
    assert.equal(admitted(admitMany(shedder, 'noisy', 20)), 8, 'alone again: the whole cap');
  });

  it('still counts a tenant whose only request has been in flight for longer than the window', () => {
    let now = 0;
    const shedder = new LoadShedder({ maxInFlight: 8, softShare: 0.5, activeWindowMs: 2_000 }, () => now);
    assert.ok(shedder.admit('quiet').ok); // a long stream, never released here
    now += 60_000;
    assert.equal(admitted(admitMany(shedder, 'noisy', 20)), 4);
  });

  it('forgets idle tenants even while the replica stays far below its cap (memory stays bounded)', () => {
    let now = 0;
    const shedder = new LoadShedder({ maxInFlight: 1_000, softShare: 0.5, activeWindowMs: 2_000 }, () => now);
    for (let i = 0; i < 10_000; i++) {
      const a = shedder.admit(`tenant_${i}`);
      assert.ok(a.ok);
      a.release();
      now += 1;
    }
    now += 5_000;
    assert.ok(shedder.admit('last').ok);
    assert.equal(shedder.activeTenants, 1, 'only the tenant that just asked is remembered');
  });
});
