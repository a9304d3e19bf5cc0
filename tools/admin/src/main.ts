import { parseArgs } from 'node:util';
import { AdminApiError, AdminClient, AdminEndpoints } from '@asc/admin-client';

const USAGE = `asc-admin: configure ASC through the services' admin APIs.

Environment: ASC_ADMIN_TOKEN (required); ASC_ADMIN_ENDPOINTS as JSON
  {"policy":"http://…","routing":"…","secrets":"…","metering":"…","audit":"…"}
  (printed by the embedded suite), or ASC_POLICY_ADMIN_URL, ASC_ROUTING_ADMIN_URL, … each.

Commands:
  tenant:create      --name N [--id ID]
  app:create         --tenant T --name N
  key:create         --tenant T --app A           (prints the key once)
  key:revoke         --tenant T --key K
  policy:set         --tenant T --models m1,m2 --regions r1,r2|*
  credential:create  --name N --provider P [--tenant T]   (secret read from stdin, never argv)
  credential:rotate  --credential C                      (secret read from stdin)
  deployment:create  --model M --provider P --upstream-model U --region R --base-url URL
                     --credential C --input-price X --output-price Y [--cached-input-price Z]
                     [--tenant T] [--priority N] [--weight N]
  deployment:list    [--tenant T]
  usage              --tenant T
  budgets            --tenant T [--app A | --key K] [--at ISO-8601]
                     (limit, spent, reserved, remaining, reset, thresholds reported)
  analytics          [--tenant T] [--group-by model,hour,…] [--from MS] [--to MS] [--provider P] [--model M]
                     (rollups; without --tenant: the platform view across tenants)
  timeline           --tenant T --request R
  audit              --tenant T [--request R]
`;

function endpoints(): AdminEndpoints {
  if (process.env.ASC_ADMIN_ENDPOINTS) return JSON.parse(process.env.ASC_ADMIN_ENDPOINTS) as AdminEndpoints;
  const get = (name: string, fallback: string) => process.env[`ASC_${name.toUpperCase()}_ADMIN_URL`] ?? fallback;
  return {
    policy: get('policy', 'http://127.0.0.1:8082'),
    routing: get('routing', 'http://127.0.0.1:8083'),
    secrets: get('secrets', 'http://127.0.0.1:8084'),
    metering: get('metering', 'http://127.0.0.1:8085'),
    audit: get('audit', 'http://127.0.0.1:8086'),
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

async function run(argv: string[]): Promise<unknown> {
  const [command, ...rest] = argv;
  const { values: v } = parseArgs({
    args: rest,
    options: Object.fromEntries(
      ['id', 'name', 'tenant', 'app', 'key', 'models', 'regions', 'provider', 'credential', 'model', 'upstream-model', 'region', 'base-url',
        'input-price', 'output-price', 'cached-input-price', 'priority', 'weight', 'request',
        'group-by', 'from', 'to', 'at'].map((o) => [o, { type: 'string' as const }]),
    ),
  });
  const need = (name: keyof typeof v): string => {
    const value = v[name];
    if (typeof value !== 'string' || !value) throw new Error(`--${String(name)} is required for ${command}`);
    return value;
  };
  const token = process.env.ASC_ADMIN_TOKEN;
  if (!command || command === 'help' || command === '--help') return USAGE;
  if (!token) throw new Error('ASC_ADMIN_TOKEN is required');
  const admin = new AdminClient(endpoints(), token);
  const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
  switch (command) {
    case 'tenant:create':
      return admin.createTenant({ name: need('name'), id: v.id });
    case 'app:create':
      return admin.createApp(need('tenant'), need('name'));
    case 'key:create':
      return admin.createApiKey(need('tenant'), { appId: need('app') });
    case 'key:revoke':
      return admin.revokeApiKey(need('tenant'), need('key'));
    case 'policy:set':
      return admin.putPolicy(need('tenant'), { allowedModels: list(need('models')), allowedRegions: list(need('regions')) });
    case 'credential:create':
      return admin.createCredential({ name: need('name'), provider: need('provider'), tenantId: v.tenant ?? null, secret: await readStdin() });
    case 'credential:rotate':
      return admin.rotateCredential(need('credential'), await readStdin());
    case 'deployment:create':
      return admin.createDeployment({
        tenantId: v.tenant ?? null,
        model: need('model'),
        provider: need('provider') as 'openai',
        upstreamModel: need('upstream-model'),
        region: need('region'),
        baseUrl: need('base-url'),
        credentialId: need('credential'),
        price: {
          inputPerMtokUsd: Number(need('input-price')),
          outputPerMtokUsd: Number(need('output-price')),
          ...(v['cached-input-price'] ? { cachedInputPerMtokUsd: Number(v['cached-input-price']) } : {}),
        },
        ...(v.priority ? { priority: Number(v.priority) } : {}),
        ...(v.weight ? { weight: Number(v.weight) } : {}),
      });
    case 'deployment:list':
      return admin.listDeployments(v.tenant);
    case 'usage':
      return admin.usage(need('tenant'));
    case 'budgets':
      return admin.budgetStatus(need('tenant'), { appId: v.app, keyId: v.key, at: v.at });
    case 'analytics':
      return admin.analytics({
        tenantId: v.tenant,
        groupBy: v['group-by'] ? list(v['group-by']) : undefined,
        fromMs: v.from ? Number(v.from) : Date.now() - 24 * 3_600_000,
        toMs: v.to ? Number(v.to) : undefined,
        provider: v.provider,
        model: v.model,
      });
    case 'timeline':
      return admin.requestTimeline(need('tenant'), need('request'));
    case 'audit':
      return admin.auditRecords(need('tenant'), v.request);
    default:
      throw new Error(`unknown command ${command}\n\n${USAGE}`);
  }
}

run(process.argv.slice(2))
  .then((result) => console.log(typeof result === 'string' ? result : JSON.stringify(result, null, 2)))
  .catch((err: unknown) => {
    console.error(err instanceof AdminApiError ? `error ${err.message}` : `error: ${(err as Error).message}`);
    process.exit(1);
  });
