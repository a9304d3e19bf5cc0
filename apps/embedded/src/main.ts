import { ConfigError, env, loadConfig, sensitive } from '@asc/config';
import { initTelemetry } from '@asc/service-kit';
import { IMPORTED_KEY_RULE, isStrongApiKey } from '@asc/tenancy';
import { z } from 'zod';
import { startEmbeddedSuite } from './embedded-suite';

/** `npm start`: the whole suite in one process on embedded infrastructure. */
const embeddedConfigShape = {
  ASC_DATA_DIR: env.str('.asc/data'),
  ASC_HOST: env.str('127.0.0.1'),
  ASC_HTTP_PORT: env.port(8080),
  ASC_GRPC_PORT: env.port(50051),
  /** Ingress's ops port: /healthz, /readyz, /metrics. */
  ASC_OPS_PORT: env.port().optional(),
  /** "auto": every internal service takes a free port (tests, several suites on one machine). */
  ASC_EMBEDDED_PORTS: env.oneOf(['fixed', 'auto'], 'fixed'),
  ASC_DEMO_API_KEY: sensitive(z.string().regex(/^[A-Za-z0-9_\-.~+/=]{8,256}$/, 'must be 8-256 characters without spaces').refine(isStrongApiKey, IMPORTED_KEY_RULE).optional()),
  OPENAI_API_KEY: sensitive(z.string().min(1).optional()),
  /** Serve the demo models from this OpenAI-compatible base URL (e.g. a vLLM or an external simulator). */
  ASC_DEMO_UPSTREAM_URL: env.url().optional(),
  LOG_LEVEL: env.oneOf(['error', 'warn', 'info', 'debug'], 'warn'),
};

async function main(): Promise<void> {
  initTelemetry('asc-embedded');
  const config = loadConfig(embeddedConfigShape);
  const suite = await startEmbeddedSuite({
    dataDir: config.ASC_DATA_DIR,
    host: config.ASC_HOST,
    ingressHttpPort: config.ASC_HTTP_PORT,
    ingressGrpcPort: config.ASC_GRPC_PORT,
    ingressOpsPort: config.ASC_OPS_PORT,
    autoPorts: config.ASC_EMBEDDED_PORTS === 'auto',
    demoApiKey: config.ASC_DEMO_API_KEY,
    openAiApiKey: config.OPENAI_API_KEY,
    demoUpstreamUrl: config.ASC_DEMO_UPSTREAM_URL,
    logLevel: config.LOG_LEVEL,
  });
  // Machine-readable lines first (tests parse them), then a human summary.
  console.log(`ASC_INGRESS_URL=${suite.ingressUrl}`);
  console.log(`ASC_INGRESS_GRPC=${suite.ingressGrpc}`);
  console.log(`ASC_OPS_URL=${suite.ingressOpsUrl}`);
  console.log(`ASC_CERTS_DIR=${suite.certificatesDir}`);
  console.log(`ASC_DEMO_TENANT=${suite.demoTenantId}`);
  console.log(`ASC_DEMO_API_KEY=${suite.demoApiKey}`);
  console.log(`ASC_ADMIN_ENDPOINTS=${JSON.stringify(suite.adminEndpoints)}`);
  console.log(`ASC_ADMIN_TOKEN_FILE=${config.ASC_DATA_DIR}/admin-token`);
  console.log(`ASC_READY=1`);
  console.log(`
ASC is running (embedded mode, data in ${config.ASC_DATA_DIR}).
  OpenAI-compatible endpoint: ${suite.ingressUrl}/v1
  Demo API key:               ${suite.demoApiKey}
  Metrics and health (ops):   ${suite.ingressOpsUrl}/metrics
  Try: curl ${suite.ingressUrl}/v1/chat/completions -H "Authorization: Bearer ${suite.demoApiKey}" \\
         -H 'content-type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'
`);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    suite.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `ASC failed to start: ${(err as Error).message}`);
  process.exit(1);
});
