import { AnalyticsError } from './analytics.error';
import { isSqlIdentifier } from './sql-literal';

/*
 * One JSONEachRow encoder for both adapters, so a row means the same on both engines:
 * - bigint is written as a bare JSON number (JSON.stringify would throw), exact for UInt64;
 * - booleans become 1/0 (18.16 has no Bool and does not parse true/false into UInt8);
 * - strings are made well-formed: a lone UTF-16 surrogate becomes U+FFFD. 26.x rejects
 *   the whole insert on one ("missing second part of surrogate pair") and usage data must
 *   not be lost over a mangled model name;
 * - NaN/Infinity, Dates, nested objects and non-identifier keys are refused.
 */

const SURROGATE = /[\ud800-\udfff]/;

function wellFormed(s: string): string {
  if (!SURROGATE.test(s)) return s; // the common case, checked natively
  let out = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const next = s.charCodeAt(i + 1);
    if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++;
      continue;
    }
    out += s.slice(start, i) + '\ufffd';
    start = i + 1;
  }
  return start === 0 ? s : out + s.slice(start);
}

function encodeValue(value: unknown, key: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(wellFormed(value));
    case 'number':
      if (!Number.isFinite(value)) throw new AnalyticsError('analytics_invalid_row', `column ${key}: ${value} is not a finite number`);
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? '1' : '0';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((v) => encodeValue(v, key)).join(',')}]`;
      break;
  }
  const kind = value instanceof Date ? 'a Date (pass epoch milliseconds)' : typeof value;
  throw new AnalyticsError('analytics_invalid_row', `column ${key}: cannot encode ${kind}`);
}

/** Column names already checked, with their JSON spelling (a batch repeats the same few keys). */
const checkedKeys = new Map<string, string>();

function jsonKey(key: string): string {
  let quoted = checkedKeys.get(key);
  if (quoted === undefined) {
    if (!isSqlIdentifier(key)) throw new AnalyticsError('analytics_invalid_row', `invalid column name ${JSON.stringify(String(key).slice(0, 80))}`);
    quoted = `"${key}":`;
    if (checkedKeys.size < 10_000) checkedKeys.set(key, quoted);
  }
  return quoted;
}

/** One row as a JSON object line (no trailing newline). `undefined` fields are left out. */
export function encodeJsonRow(row: Record<string, unknown>): string {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new AnalyticsError('analytics_invalid_row', 'a row must be a plain object');
  }
  // Fast path: a row of plain strings, finite numbers and nulls is exactly what
  // JSON.stringify writes, and the native serialiser is several times faster than ours.
  let simple = true;
  for (const key of Object.keys(row)) {
    jsonKey(key);
    const value = row[key];
    const t = typeof value;
    if (t === 'string' ? SURROGATE.test(value as string) : t === 'number' ? !Number.isFinite(value) : value !== null && t !== 'undefined') {
      simple = false;
    }
  }
  if (simple) return JSON.stringify(row);
  let out = '{';
  let first = true;
  for (const key of Object.keys(row)) {
    const value = row[key];
    if (value === undefined) continue;
    out += (first ? '' : ',') + jsonKey(key) + encodeValue(value, key);
    first = false;
  }
  return out + '}';
}

/** The JSONEachRow body for an insert: one line per row. */
export function encodeJsonEachRow(rows: readonly Record<string, unknown>[]): string {
  let out = '';
  for (const row of rows) out += encodeJsonRow(row) + '\n';
  return out;
}

/** Parses a JSONEachRow response body. */
export function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end > start) rows.push(JSON.parse(text.slice(start, end)) as T);
    start = end + 1;
  }
  return rows;
}
