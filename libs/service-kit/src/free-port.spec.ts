import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort } from './free-port';

describe('freePort', () => {
  it('never hands out the same port twice, though none of them is bound yet', async () => {
    // A suite picks all its services' ports before any of them binds: a repeat would make two
    // services race for one port (EADDRINUSE, or a probe answered by the wrong process).
    const range = { from: 24_100, to: 24_140 };
    const ports: number[] = [];
    for (let i = 0; i < 25; i++) ports.push(await freePort('127.0.0.1', range));
    assert.equal(new Set(ports).size, ports.length);
    for (const p of ports) assert.ok(p >= range.from && p < range.to);
  });
});
