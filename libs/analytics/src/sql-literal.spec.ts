import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AnalyticsError } from './analytics.error';
import {
  assertSqlIdentifier,
  assertTableName,
  chSql,
  chSqlFragment,
  ident,
  isSqlIdentifier,
  SqlFragment,
  sqlArray,
  sqlBool,
  sqlJoin,
  sqlLiteral,
  sqlNumber,
  sqlString,
  sqlTuple,
  type SqlValue,
} from './sql-literal';

const rejects = (code: string) => (err: unknown) => err instanceof AnalyticsError && err.code === code;

/**
 * A reference lexer for a ClickHouse single-quoted literal starting at `at`: returns the
 * index just past the closing quote, or -1 when the literal does not close. Used to prove
 * that whatever sqlString produced is exactly one literal, so nothing can leak out of it.
 */
function endOfLiteral(sql: string, at: number): number {
  assert.equal(sql[at], "'");
  for (let i = at + 1; i < sql.length; i++) {
    if (sql[i] === '\\') i++;
    else if (sql[i] === "'") return i + 1;
  }
  return -1;
}

describe('sqlString', () => {
  it('escapes quotes, backslashes and control characters', () => {
    assert.equal(sqlString("it's"), "'it\\'s'");
    assert.equal(sqlString('a\\b'), "'a\\\\b'");
    assert.equal(sqlString("\\'"), "'\\\\\\''");
    assert.equal(sqlString('l1\nl2\r\tx'), "'l1\\nl2\\r\\tx'");
    assert.equal(sqlString('nul\0end'), "'nul\\0end'");
    assert.equal(sqlString('\x01\x1f\x7f\b\f'), "'\\x01\\x1F\\x7F\\b\\f'");
    assert.equal(sqlString(''), "''");
  });

  it('leaves unicode as is, including astral characters', () => {
    assert.equal(sqlString('é 😀 中文 \u2028'), "'é 😀 中文 \u2028'");
  });

  it('never emits a raw NUL, newline or unescaped quote', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const lit = sqlString(s);
        assert.ok(!/[\0\n\r]/.test(lit));
        assert.equal(endOfLiteral(lit, 0), lit.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps injection attempts inside one literal', () => {
    for (const evil of ["' OR 1=1 --", "\\' OR 1=1 --", "x'; DROP TABLE requests; --", "\\", "'", "''", "\\\\'", "a' FORMAT TSV"]) {
      const sql = chSql`SELECT 1 WHERE tenant_id = ${evil} AND 1`;
      const start = sql.indexOf("'");
      assert.equal(sql.slice(endOfLiteral(sql, start)), ' AND 1', evil);
    }
  });

  it('rejects lone surrogates (a silently altered WHERE could match another row)', () => {
    assert.throws(() => sqlString('a\ud800b'), rejects('analytics_invalid_literal'));
    assert.throws(() => sqlString('\udc00'), rejects('analytics_invalid_literal'));
    assert.throws(() => sqlString('end\ud83d'), rejects('analytics_invalid_literal'));
    assert.equal(sqlString('\ud83d\ude00'), "'😀'");
  });
});

describe('sqlNumber / sqlBool', () => {
  it('writes finite numbers, parenthesising negatives', () => {
    assert.equal(sqlNumber(42), '42');
    assert.equal(sqlNumber(-5), '(-5)');
    assert.equal(sqlNumber(0.1), '0.1');
    assert.equal(sqlNumber(-0), '0');
    assert.equal(sqlNumber(1e21), '1e+21');
    assert.equal(sqlNumber(18446744073709551615n), '18446744073709551615');
    assert.equal(sqlNumber(-3n), '(-3)');
    assert.equal(chSql`SELECT 1-${-1}`, 'SELECT 1-(-1)'); // never `1--1`, a comment
  });

  it('refuses NaN, infinities, subnormals and non-numbers', () => {
    for (const bad of [NaN, Infinity, -Infinity, 5e-324, -1e-310]) {
      assert.throws(() => sqlNumber(bad), rejects('analytics_invalid_literal'), String(bad));
    }
    assert.throws(() => sqlNumber('1' as unknown as number), rejects('analytics_invalid_literal'));
  });

  it('writes booleans as 1/0 (18.16 has no true/false)', () => {
    assert.equal(sqlBool(true), '1');
    assert.equal(sqlBool(false), '0');
    assert.throws(() => sqlBool(1 as unknown as boolean), rejects('analytics_invalid_literal'));
  });
});

describe('sqlLiteral / sqlArray / sqlTuple', () => {
  it('covers every supported value', () => {
    assert.equal(sqlLiteral(null), 'NULL');
    assert.equal(sqlArray([]), '[]');
    assert.equal(sqlArray(['a', "b'"]), "['a', 'b\\'']");
    assert.equal(sqlArray([[1, -2], [3]]), '[[1, (-2)], [3]]');
    assert.equal(sqlTuple(['x', 'y']).toString(), "('x', 'y')");
  });

  it('refuses what has no portable literal', () => {
    for (const bad of [undefined, new Date(0), { a: 1 }, Symbol('s'), () => 1]) {
      assert.throws(() => sqlLiteral(bad as unknown as SqlValue), rejects('analytics_invalid_literal'));
    }
    assert.throws(() => sqlTuple([]), rejects('analytics_invalid_literal'));
  });
});

describe('identifiers', () => {
  it('accepts plain names only', () => {
    for (const ok of ['asc', 'requests', '_x1', 'A_b_9']) assert.ok(isSqlIdentifier(ok), ok);
    for (const bad of ['', '1abc', 'a-b', 'a b', 'a.b', 'a`b', "a'", 'é', 'x;DROP', 'a'.repeat(129), 'a\0']) {
      assert.ok(!isSqlIdentifier(bad), bad);
      assert.throws(() => assertSqlIdentifier(bad), rejects('analytics_invalid_identifier'));
    }
  });

  it('checks table names and builds qualified identifiers', () => {
    assert.equal(assertTableName('db.t'), 'db.t');
    assert.equal(assertTableName('t'), 't');
    for (const bad of ['a.b.c', '.t', 'db.', 'db.t;', 'db t']) {
      assert.throws(() => assertTableName(bad), rejects('analytics_invalid_identifier'), bad);
    }
    assert.equal(ident('asc', 'requests').toString(), 'asc.requests');
    assert.throws(() => ident('asc', 'requests; DROP'), rejects('analytics_invalid_identifier'));
  });
});

describe('chSql', () => {
  it('escapes every interpolation and passes fragments through', () => {
    const t = "t'1";
    assert.equal(
      chSql`SELECT count() FROM ${ident('asc', 'requests')} WHERE tenant_id = ${t} AND id IN ${sqlTuple([1, 2])} AND tags = ${['a']}`,
      "SELECT count() FROM asc.requests WHERE tenant_id = 't\\'1' AND id IN (1, 2) AND tags = ['a']",
    );
  });

  it('treats strings as literals, never as SQL', () => {
    const table = 'requests; DROP DATABASE asc';
    assert.equal(chSql`SELECT * FROM ${table}`, "SELECT * FROM 'requests; DROP DATABASE asc'");
  });

  it('composes fragments', () => {
    const cond = sqlJoin([chSqlFragment`a = ${1}`, chSqlFragment`b = ${'x'}`], ' AND ');
    assert.equal(chSql`SELECT 1 WHERE ${cond}`, "SELECT 1 WHERE a = 1 AND b = 'x'");
  });

  it('refuses an interpolation wrapped in quotes', () => {
    const v = 'x';
    assert.throws(() => chSql`SELECT '${v}'`, rejects('analytics_invalid_literal'));
    assert.throws(() => chSql`SELECT "${v}"`, rejects('analytics_invalid_literal'));
    assert.throws(() => chSql`SELECT \`${v}\``, rejects('analytics_invalid_literal'));
  });

  it('cannot be fooled by a forged fragment', () => {
    const forged = { toString: () => '1; DROP TABLE x' } as unknown as SqlValue;
    assert.throws(() => chSql`SELECT ${forged}`, rejects('analytics_invalid_literal'));
    const proto = Object.create(SqlFragment.prototype) as SqlValue;
    assert.throws(() => chSql`SELECT ${proto}`, rejects('analytics_invalid_literal'));
    assert.throws(
      () => new SqlFragment(Symbol('SqlFragment') as never, 'DROP'),
      rejects('analytics_invalid_literal'),
    );
  });
});
