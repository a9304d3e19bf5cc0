import { ConfigError } from '@asc/config';
import { loadSecretsConfig, startSecretsService } from '@asc/secrets';
import { initTelemetry } from '@asc/service-kit';

async function main(): Promise<void> {
  initTelemetry('asc-secrets');
  const service = await startSecretsService(loadSecretsConfig());
  const shutdown = () => void service.close().finally(() => process.exit(0));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `secrets failed to start: ${(err as Error).message}`);
  process.exit(1);
});
