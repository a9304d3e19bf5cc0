import { invalidParam, TranslationError } from './translation.error';

// Narrowing helpers shared by the codecs (request bodies are untrusted `unknown`).

export type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function requireObject(v: unknown, param: string): JsonObject {
  if (!isObject(v)) throw invalidParam(param, `'${param}' must be an object`);
  return v;
}

export function requireArray(v: unknown, param: string): unknown[] {
  if (!Array.isArray(v)) throw invalidParam(param, `'${param}' must be an array`);
  return v;
}

export function requireString(v: unknown, param: string): string {
  if (typeof v !== 'string') throw invalidParam(param, `'${param}' must be a string`);
  return v;
}

export function optString(v: unknown, param: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  return requireString(v, param);
}

export function optNumber(v: unknown, param: string, min?: number, max?: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidParam(param, `'${param}' must be a number`);
  if ((min !== undefined && v < min) || (max !== undefined && v > max)) {
    throw invalidParam(param, `'${param}' must be between ${min ?? '-inf'} and ${max ?? 'inf'}, got ${v}`);
  }
  return v;
}

export function optInteger(v: unknown, param: string, min?: number): number | undefined {
  const n = optNumber(v, param, min);
  if (n !== undefined && !Number.isInteger(n)) throw invalidParam(param, `'${param}' must be an integer`);
  return n;
}

export function optBoolean(v: unknown, param: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalidParam(param, `'${param}' must be a boolean`);
  return v;
}

/** `stop` as one string or a list of strings. */
export function optStopList(v: unknown, param: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  throw invalidParam(param, `'${param}' must be a string or an array of strings`);
}

/** Tool call arguments must be a JSON object for providers that take them parsed. */
export function parseArguments(json: string, param: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = json.trim() === '' ? {} : JSON.parse(json);
  } catch {
    throw new TranslationError('invalid_tool_arguments', `'${param}' is not valid JSON`, param);
  }
  if (!isObject(parsed)) throw new TranslationError('invalid_tool_arguments', `'${param}' must be a JSON object`, param);
  return parsed;
}

/** Rejects any key not in `known`; a field we do not understand might change the meaning. */
export function rejectUnknownFields(body: JsonObject, known: ReadonlySet<string>, prefix = ''): void {
  for (const key of Object.keys(body)) {
    if (!known.has(key) && body[key] !== undefined) {
      throw new TranslationError('unsupported_parameter', `'${prefix}${key}' is not supported when the request is served by another provider`, `${prefix}${key}`);
    }
  }
}
