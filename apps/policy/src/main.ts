import { ConfigError } from '@asc/config';
import { loadPolicyConfig, startPolicyService } from '@asc/policy';
import { initTelemetry } from '@asc/service-kit';

async function main(): Promise<void> {
  initTelemetry('asc-policy');
  const service = await startPolicyService(loadPolicyConfig());
  const shutdown = () => void service.close().finally(() => process.exit(0));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `policy failed to start: ${(err as Error).message}`);
  process.exit(1);
});
