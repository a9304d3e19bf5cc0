import { AnalyticsError } from './analytics.error';

/*
 * ClickHouse 18.16 has no server-side query parameters ({name:Type} arrived in 19.x), so
 * values reach SQL as literals. Everything that builds SQL in this library goes through
 * the functions below; nothing else concatenates values into SQL text.
 *
 * The escaping is the subset both 18.16 and 26.x parse identically: `\\`, `\'`, `\0`,
 * `\b \f \n \r \t` and `\xHH` for the remaining control characters. NUL is escaped,
 * never passed raw: chdb hands SQL across a C boundary where a raw NUL would end it.
 */

const TRUSTED: unique symbol = Symbol('SqlFragment');

/**
 * A piece of SQL that is already safe. Only this module can make one (the constructor
 * wants a module-private token): through `ident`, `sqlTuple`, `sqlJoin` and `chSqlFragment`.
 */
export class SqlFragment {
  readonly #text: string;
  constructor(token: typeof TRUSTED, text: string) {
    if (token !== TRUSTED) throw new AnalyticsError('analytics_invalid_literal', 'SqlFragment cannot be constructed directly');
    this.#text = text;
  }
  static is(value: unknown): value is SqlFragment {
    // A private-field check: an object that merely looks like a fragment is not one.
    return typeof value === 'object' && value !== null && #text in value;
  }
  toString(): string {
    return this.#text;
  }
}

/** Values the literal functions accept. Dates are not: pass epoch ms explicitly. */
export type SqlValue = string | number | bigint | boolean | null | SqlFragment | readonly SqlValue[];

const SIMPLE_ESCAPES: Record<number, string> = {
  0x00: '\\0',
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0c: '\\f',
  0x0d: '\\r',
  0x27: "\\'",
  0x5c: '\\\\',
};

function trusted(text: string): SqlFragment {
  return new SqlFragment(TRUSTED, text);
}

function hex2(code: number): string {
  return code.toString(16).toUpperCase().padStart(2, '0');
}

/**
 * A single-quoted ClickHouse string literal. Lone UTF-16 surrogates are rejected rather
 * than replaced: a query that silently compared against a different string could match
 * another row.
 */
export function sqlString(value: string): string {
  if (typeof value !== 'string') throw new AnalyticsError('analytics_invalid_literal', `expected a string, got ${typeof value}`);
  let out = "'";
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x20 || c === 0x27 || c === 0x5c || c === 0x7f) {
      rep = SIMPLE_ESCAPES[c] ?? `\\x${hex2(c)}`;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = value.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a well-formed pair: copied as is, encoded to UTF-8 with the rest
        continue;
      }
      throw new AnalyticsError('analytics_invalid_literal', `string has a lone surrogate at index ${i}`);
    }
    if (rep !== undefined) {
      out += value.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return out + value.slice(start) + "'";
}

const MIN_NORMAL = 2.2250738585072014e-308;

/**
 * A numeric literal. Only finite numbers; negatives are parenthesised so that `a-${n}`
 * can never become the comment opener `a--1`.
 */
export function sqlNumber(value: number | bigint): string {
  if (typeof value === 'bigint') return value < 0n ? `(${value})` : String(value);
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new AnalyticsError('analytics_invalid_literal', `expected a finite number, got ${String(value)}`);
  }
  if (value !== 0 && Math.abs(value) < MIN_NORMAL) {
    // 18.16's parser rejects subnormal literals outright; no portable spelling exists.
    throw new AnalyticsError('analytics_invalid_literal', `subnormal number ${value} cannot be written portably`);
  }
  const text = String(value === 0 ? 0 : value); // -0 -> 0: ClickHouse has no integer -0
  return value < 0 ? `(${text})` : text;
}

/** Booleans become UInt8 1/0: 18.16 has neither a Bool type nor true/false literals. */
export function sqlBool(value: boolean): string {
  if (typeof value !== 'boolean') throw new AnalyticsError('analytics_invalid_literal', `expected a boolean, got ${typeof value}`);
  return value ? '1' : '0';
}

/** An array literal `[a, b]` (element types must have a common ClickHouse supertype). */
export function sqlArray(values: readonly SqlValue[]): string {
  if (!Array.isArray(values)) throw new AnalyticsError('analytics_invalid_literal', 'expected an array');
  return `[${values.map(sqlLiteral).join(', ')}]`;
}

/** Any supported value as a literal; fragments pass through unchanged. */
export function sqlLiteral(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (SqlFragment.is(value)) return value.toString();
  if (Array.isArray(value)) return sqlArray(value);
  switch (typeof value) {
    case 'string':
      return sqlString(value);
    case 'number':
    case 'bigint':
      return sqlNumber(value);
    case 'boolean':
      return sqlBool(value);
    default:
      throw new AnalyticsError('analytics_invalid_literal', `unsupported value of type ${typeName(value)}`);
  }
}

function typeName(value: unknown): string {
  if (value instanceof Date) return 'Date (pass epoch milliseconds)';
  if (value === undefined) return 'undefined';
  return typeof value === 'object' ? 'object' : typeof value;
}

/** `(a, b, c)` for `x IN ${sqlTuple(ids)}`. Empty lists are refused: `IN ()` is not SQL. */
export function sqlTuple(values: readonly SqlValue[]): SqlFragment {
  if (!Array.isArray(values) || values.length === 0) {
    throw new AnalyticsError('analytics_invalid_literal', 'a tuple needs at least one value');
  }
  return trusted(`(${values.map(sqlLiteral).join(', ')})`);
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** True for a plain (unquoted) identifier: letters, digits, underscore, not starting with a digit. */
export function isSqlIdentifier(name: unknown): name is string {
  return typeof name === 'string' && IDENTIFIER.test(name);
}

/** Returns the name when it is a plain identifier, throws otherwise. */
export function assertSqlIdentifier(name: unknown, what = 'identifier'): string {
  if (!isSqlIdentifier(name)) {
    const shown = typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : typeof name;
    throw new AnalyticsError('analytics_invalid_identifier', `invalid ${what}: ${shown}`);
  }
  return name;
}

/** `table` or `database.table`, each part a plain identifier. */
export function assertTableName(name: unknown): string {
  const parts = typeof name === 'string' ? name.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every(isSqlIdentifier)) {
    const shown = typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : typeof name;
    throw new AnalyticsError('analytics_invalid_identifier', `invalid table name: ${shown}`);
  }
  return name as string;
}

/** A checked identifier, optionally qualified: `ident(db, 'requests')` -> `db.requests`. */
export function ident(...parts: string[]): SqlFragment {
  if (parts.length === 0) throw new AnalyticsError('analytics_invalid_identifier', 'ident() needs a name');
  return trusted(parts.map((p) => assertSqlIdentifier(p)).join('.'));
}

function build(strings: TemplateStringsArray, values: readonly SqlValue[]): string {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) {
    const before = strings[i];
    const after = strings[i + 1];
    // `'${x}'` is the classic mistake: the literal brings its own quotes.
    if (/['"`]$/.test(before) || /^['"`]/.test(after)) {
      throw new AnalyticsError('analytics_invalid_literal', `chSql: interpolation #${i + 1} is inside quotes; remove them`);
    }
    out += sqlLiteral(values[i]) + after;
  }
  return out;
}

/**
 * Tagged template that turns every interpolation into a literal:
 * chSql`SELECT count() FROM ${ident(db, 'requests')} WHERE tenant_id = ${tenantId}`.
 * Identifiers go through `ident()`, never as plain strings (a string is always a literal).
 */
export function chSql(strings: TemplateStringsArray, ...values: SqlValue[]): string {
  return build(strings, values);
}

/** Same as `chSql`, but returns a fragment that can be interpolated into another `chSql`. */
export function chSqlFragment(strings: TemplateStringsArray, ...values: SqlValue[]): SqlFragment {
  return trusted(build(strings, values));
}

/** Joins fragments (e.g. optional WHERE conditions) with a fixed separator. */
export function sqlJoin(parts: readonly SqlFragment[], separator: ' AND ' | ' OR ' | ', '): SqlFragment {
  for (const p of parts) {
    if (!SqlFragment.is(p)) throw new AnalyticsError('analytics_invalid_literal', 'sqlJoin takes fragments only');
  }
  return trusted(parts.map(String).join(separator));
}
