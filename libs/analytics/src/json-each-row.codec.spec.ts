import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { AnalyticsError } from './analytics.error';
import { encodeJsonEachRow, encodeJsonRow, parseJsonEachRow } from './json-each-row.codec';

const rejects = (err: unknown) => err instanceof AnalyticsError && err.code === 'analytics_invalid_row';

describe('encodeJsonRow', () => {
  it('writes plain rows exactly like JSON.stringify', () => {
    const row = { a: 'x"y\\z\n\0', b: 1.5, c: -0, d: null, e: 'é😀' };
    assert.equal(encodeJsonRow(row), JSON.stringify(row));
  });

  it('writes bigint exactly, booleans as 1/0, arrays recursively, and leaves out undefined', () => {
    assert.equal(
      encodeJsonRow({ u: 18446744073709551615n, i: -9223372036854775808n, t: true, f: false, a: [1n, true, 'x'], skip: undefined }),
      '{"u":18446744073709551615,"i":-9223372036854775808,"t":1,"f":0,"a":[1,1,"x"]}',
    );
  });

  it('replaces lone surrogates with U+FFFD instead of failing the insert', () => {
    assert.equal(encodeJsonRow({ s: 'a\ud800b\udc00' }), '{"s":"a\ufffdb\ufffd"}');
    assert.equal(encodeJsonRow({ s: '😀\ud83d' }), '{"s":"😀\ufffd"}');
  });

  it('refuses non-finite numbers, Dates, objects, functions and bad column names', () => {
    for (const bad of [{ n: NaN }, { n: Infinity }, { d: new Date() }, { o: { x: 1 } }, { f: () => 1 }, { a: [NaN] }, { 'x"': 1 }, { 'a b': 1 }]) {
      assert.throws(() => encodeJsonRow(bad as Record<string, unknown>), rejects, JSON.stringify(Object.keys(bad)));
    }
    assert.throws(() => encodeJsonRow([] as unknown as Record<string, unknown>), rejects);
  });
});

describe('encodeJsonEachRow / parseJsonEachRow', () => {
  it('writes one line per row and reads them back', () => {
    const body = encodeJsonEachRow([{ a: 1 }, { a: 'x\ny' }]);
    assert.equal(body, '{"a":1}\n{"a":"x\\ny"}\n');
    assert.deepEqual(parseJsonEachRow(body), [{ a: 1 }, { a: 'x\ny' }]);
    assert.deepEqual(parseJsonEachRow(''), []);
    assert.deepEqual(parseJsonEachRow('{"a":1}'), [{ a: 1 }]);
  });
});
