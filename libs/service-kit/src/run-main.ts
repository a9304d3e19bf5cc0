import { ConfigError } from '@asc/config';
import { initTelemetry } from './telemetry';

/**
 * The entry point of a production service process: telemetry first, then the service,
 * a clean stop on SIGTERM/SIGINT, and a one-line error (never a stack) when boot fails.
 */
export function runMain(service: string, start: () => Promise<{ close(): Promise<void> }>): void {
  initTelemetry(`asc-${service}`);
  start()
    .then((running) => {
      let stopping = false;
      const shutdown = () => {
        if (stopping) return;
        stopping = true;
        running.close().finally(() => process.exit(0));
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    })
    .catch((err: unknown) => {
      console.error(err instanceof ConfigError ? `${service}: ${err.message}` : `${service} failed to start: ${(err as Error).message}`);
      process.exit(1);
    });
}
