import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { entryBytes, hashEntry } from './audit-entry';
import { canonicalJson, canonicalObjectJson } from './canonical-json';

/** The encoding written out by hand, as an auditor's own script would: the bytes must never change. */
function reference(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(o[k])}`).join(',')}}`;
}

/** A deterministic pseudo-random JSON value (keys that collide across depths, unicode, numbers of every kind). */
function randomValue(seed: { n: number }, depth: number): unknown {
  const next = () => (seed.n = (seed.n * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const KEYS = ['a', 'B', 'b', 'é', 'Z', '10', '9', 'aa', 'a b', '😀', '\ud83d\ude00x', 'tenantId', 'fields', ''];
  const r = next();
  if (depth > 3 || r < 0.35) {
    const scalars: unknown[] = [null, true, false, 0, -0, 1.5, -1e21, 1e-7, 2 ** 53 + 2, 'x', '"quoted"\n', '\u2028', 'ü€😀', ''];
    return scalars[Math.floor(next() * scalars.length)];
  }
  if (r < 0.55) return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(seed, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 6); i > 0; i--) o[KEYS[Math.floor(next() * KEYS.length)]] = next() < 0.1 ? undefined : randomValue(seed, depth + 1);
  return o;
}

describe('canonicalJson', () => {
  it('sorts keys at every depth by UTF-16 code units, without whitespace', () => {
    const value = { z: 1, a: { c: [3, { y: true, b: null }], B: 'x' }, é: 'é', '😀': 0, '\uffff': 1 };
    assert.equal(canonicalJson(value), '{"a":{"B":"x","c":[3,{"b":null,"y":true}]},"z":1,"é":"é","😀":0,"\uffff":1}');
  });

  it('writes the same bytes as the hand-written encoding for a thousand random values', () => {
    const seed = { n: 42 };
    for (let i = 0; i < 1000; i++) {
      const value = randomValue(seed, 0);
      assert.equal(canonicalJson(value), reference(value), JSON.stringify(value));
    }
  });

  it('encodes an object with some members omitted exactly as the object without them', () => {
    const record = { z: 1, stream: true, b: { user: 'kept at depth' }, user: 'u1', a: [1, 'x'] };
    const omit = new Set(['stream', 'user']);
    assert.equal(canonicalObjectJson(record, omit), canonicalJson({ z: 1, b: { user: 'kept at depth' }, a: [1, 'x'] }));
    assert.equal(canonicalObjectJson(record), canonicalJson(record));
  });

  it('leaves out undefined members and keeps every other falsy value', () => {
    assert.equal(canonicalJson({ b: [1, { d: 1, c: undefined }], a: 'x', e: 0, f: '', g: false, h: null }), '{"a":"x","b":[1,{"d":1}],"e":0,"f":"","g":false,"h":null}');
  });

  it('encodes a "__proto__" member like any other', () => {
    assert.equal(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":1}}')), '{"__proto__":{"x":1},"b":1}');
  });

  it('refuses what it cannot encode exactly instead of dropping it', () => {
    for (const bad of [NaN, Infinity, undefined, 1n, () => 1, { a: [undefined] }, { a: { b: -Infinity } }, { when: new Date(0) }]) {
      assert.throws(() => canonicalJson(bad), TypeError, String(bad));
    }
  });

  it('hashes an audit record to the same bytes and SHA-256 as every earlier release (golden vector)', () => {
    // Fields in no particular order: the bytes depend on content only.
    const entry = {
      tenantId: 'acme', seq: 7, prevHash: 'ab'.repeat(32), eventId: '0190a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b', kind: 'request' as const,
      occurredAt: '2026-11-30T19:00:00.000Z', requestId: 'req_1',
      fields: { status: 'ok', appId: 'app_1', guardrails: [{ detector: 'email', action: 'redact', count: 2 }], httpStatus: 200 },
    };
    assert.equal(
      entryBytes(entry).toString('utf8'),
      '{"eventId":"0190a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b","fields":{"appId":"app_1","guardrails":[{"action":"redact","count":2,"detector":"email"}],"httpStatus":200,"status":"ok"},' +
        '"kind":"request","occurredAt":"2026-11-30T19:00:00.000Z","prevHash":"' + 'ab'.repeat(32) + '","requestId":"req_1","seq":7,"tenantId":"acme","v":1}',
    );
    assert.equal(hashEntry(entry), '4a3208b2ff4da46dec52ca7cd6c433fe08e2bed7fd594040101996442d8e2959');
  });
});
