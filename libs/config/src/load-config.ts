import { z } from 'zod';

/** Thrown at boot when the environment does not satisfy a service's schema. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Sensitive settings: validated like any other, but their values are never echoed in an
 * error message or a log line.
 */
const sensitiveSchemas = new WeakSet<z.ZodTypeAny>();
export function sensitive<T extends z.ZodTypeAny>(schema: T): T {
  sensitiveSchemas.add(schema);
  return schema;
}

/**
 * Validates the environment once, at boot, into one typed object. Every problem is
 * reported with the variable's name; the process should not start on a ConfigError.
 */
export function loadConfig<S extends z.ZodRawShape>(
  shape: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<z.ZodObject<S>> {
  const result = z.object(shape).safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    const field = shape[name] as z.ZodTypeAny | undefined;
    const value = env[name];
    if (value === undefined) return `${name} is required but not set`;
    const shown = field && sensitiveSchemas.has(field) ? '<redacted>' : JSON.stringify(value);
    return `${name}=${shown}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}

/** Common field builders so every service spells its variables the same way. */
export const env = {
  port: (fallback?: number) => {
    const s = z.coerce.number().int().min(1).max(65535);
    return fallback === undefined ? s : s.default(fallback);
  },
  url: () => z.string().url(),
  str: (fallback?: string) => (fallback === undefined ? z.string().min(1) : z.string().min(1).default(fallback)),
  int: (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback),
  num: (fallback: number, min: number, max: number) => z.coerce.number().min(min).max(max).default(fallback),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1'),
  list: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  topicPrefix: () => z.string().regex(/^[a-zA-Z0-9._-]{0,100}$/, 'must be letters, digits, ".", "_" or "-"').default(''),
  oneOf: <T extends [string, ...string[]]>(values: T, fallback: T[number]) => z.enum(values).default(fallback),
};
