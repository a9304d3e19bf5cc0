import { ConfigError } from '@asc/config';
import { loadRoutingConfig, startRoutingService } from '@asc/routing';
import { initTelemetry } from '@asc/service-kit';

async function main(): Promise<void> {
  initTelemetry('asc-routing');
  const service = await startRoutingService(loadRoutingConfig());
  const shutdown = () => void service.close().finally(() => process.exit(0));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `routing failed to start: ${(err as Error).message}`);
  process.exit(1);
});
