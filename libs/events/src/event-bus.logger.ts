import type { EventBusLogger, LogFields } from './event-bus.port';

/** Discards everything (tests that assert on log lines use a recording fake instead). */
export const silentEventBusLogger: EventBusLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

function line(level: string, message: string, fields?: LogFields): string {
  return JSON.stringify({ level, logger: 'asc.events', msg: message, ...fields });
}

/**
 * The default when an app passes no logger: warnings and errors as JSON lines on stderr,
 * so that a buffer overflow or a dead letter is never silent.
 */
export const consoleEventBusLogger: EventBusLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, fields) => process.stderr.write(`${line('warn', message, fields)}\n`),
  error: (message, fields) => process.stderr.write(`${line('error', message, fields)}\n`),
};

/**
 * Loggable facts about an error: its name, code and a truncated message. Errors raised by
 * this library and by kafkajs never quote payloads; a handler's own error is cut short.
 */
export function errorFields(err: unknown): LogFields {
  if (!(err instanceof Error)) return { error: typeof err };
  const code = (err as { code?: unknown; type?: unknown }).code ?? (err as { type?: unknown }).type;
  return {
    error: err.name,
    errorCode: typeof code === 'string' || typeof code === 'number' ? code : undefined,
    errorMessage: err.message.length > 200 ? `${err.message.slice(0, 200)}…` : err.message,
  };
}
