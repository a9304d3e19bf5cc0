/** Where each control-plane service's admin HTTP API listens. */
export interface AdminEndpoints {
  policy: string;
  routing: string;
  secrets: string;
  metering: string;
  audit: string;
}

/** One stored version of a tenant's, app's or key's policy document. */
export interface PolicyVersion {
  tenantId: string;
  scope: 'tenant' | 'app' | 'key';
  scopeId: string;
  policyId: string;
  version: number;
  rolledBackTo: number | null;
  createdAt: string;
  document: Record<string, unknown>;
}

export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = 'AdminApiError';
  }
}

export interface DeploymentInput {
  tenantId?: string | null;
  model: string;
  provider: 'openai' | 'anthropic' | 'mistral' | 'openai-compatible';
  upstreamModel: string;
  region: string;
  baseUrl: string;
  /** Omitted for a self-hosted model that takes no key. */
  credentialId?: string | null;
  price: { inputPerMtokUsd: number; outputPerMtokUsd: number; cachedInputPerMtokUsd?: number };
  weight?: number;
  priority?: number;
  operations?: Array<'chat.completions' | 'embeddings' | 'count_tokens'> | null;
  timeouts?: { connectMs?: number; ttftMs?: number; idleMs?: number; totalMs?: number } | null;
}

/**
 * A typed client of the services' admin HTTP APIs: what the CLI, the embedded seed and
 * the tests use to configure ASC (never hand-written SQL).
 */
/** GET …/budgets (libs/policy/src/budget-status.service.ts). */
export interface BudgetStatus {
  tenantId: string;
  appId: string | null;
  keyId: string | null;
  counters: 'redis' | 'memory' | 'unavailable';
  at: string;
  budgets: Array<{
    scope: 'tenant' | 'app' | 'key';
    scopeId: string;
    period: 'day' | 'month';
    periodKey: string;
    limitUsd: number;
    spentUsd: number | null;
    reservedUsd: number | null;
    remainingUsd: number | null;
    resetsAt: string;
    thresholdsCrossed: number[] | null;
  }>;
}

export class AdminClient {
  constructor(
    private readonly endpoints: AdminEndpoints,
    private readonly token: string,
  ) {}

  createTenant(input: { id?: string; name: string }) {
    return this.call<{ id: string; name: string; status: string }>('policy', 'POST', '/admin/v1/tenants', input);
  }

  getTenant(tenantId: string) {
    return this.call<{ id: string; name: string; status: string }>('policy', 'GET', `/admin/v1/tenants/${enc(tenantId)}`);
  }

  createApp(tenantId: string, name: string) {
    return this.call<{ id: string; tenantId: string; name: string }>('policy', 'POST', `/admin/v1/tenants/${enc(tenantId)}/apps`, { name });
  }

  createApiKey(tenantId: string, input: { appId: string; scopes?: string[]; key?: string; models?: string[]; operations?: string[]; expiresAt?: string }) {
    return this.call<{ id: string; key: string; displayPrefix: string; models: string[]; operations: string[]; expiresAt: string | null }>('policy', 'POST', `/admin/v1/tenants/${enc(tenantId)}/keys`, input);
  }

  revokeApiKey(tenantId: string, keyId: string) {
    return this.call<{ id: string; status: string }>('policy', 'POST', `/admin/v1/tenants/${enc(tenantId)}/keys/${enc(keyId)}/revoke`, {});
  }

  /** The tenant's policy document (see libs/policy/src/policy-document.ts); `expectedVersion` guards a concurrent overwrite. */
  putPolicy(tenantId: string, input: { allowedModels: string[]; allowedRegions: string[]; expectedVersion?: number } & Record<string, unknown>) {
    return this.call<PolicyVersion>('policy', 'PUT', `/admin/v1/tenants/${enc(tenantId)}/policy`, input);
  }

  /** Narrows the tenant's policy for one app (every field optional; never widens). */
  putAppPolicy(tenantId: string, appId: string, input: Record<string, unknown>) {
    return this.call<PolicyVersion>('policy', 'PUT', `/admin/v1/tenants/${enc(tenantId)}/apps/${enc(appId)}/policy`, input);
  }

  /** Narrows the app's policy for one key (every field optional; never widens). */
  putKeyPolicy(tenantId: string, keyId: string, input: Record<string, unknown>) {
    return this.call<PolicyVersion>('policy', 'PUT', `/admin/v1/tenants/${enc(tenantId)}/keys/${enc(keyId)}/policy`, input);
  }

  policyVersions(tenantId: string) {
    return this.call<{ tenantId: string; versions: PolicyVersion[] }>('policy', 'GET', `/admin/v1/tenants/${enc(tenantId)}/policy/versions`);
  }

  policyDiff(tenantId: string, from: number, to: number) {
    return this.call<{ from: PolicyVersion; to: PolicyVersion; changes: Array<{ path: string; from?: unknown; to?: unknown }> }>(
      'policy',
      'GET',
      `/admin/v1/tenants/${enc(tenantId)}/policy/diff?from=${from}&to=${to}`,
    );
  }

  rollbackPolicy(tenantId: string, version: number) {
    return this.call<PolicyVersion>('policy', 'POST', `/admin/v1/tenants/${enc(tenantId)}/policy/versions/${version}/rollback`, {});
  }

  /**
   * Budget status: every budget that counts the tenant, an app (and the tenant) or a key (and
   * its app and the tenant), with spent, reserved, remaining, reset time and thresholds reported.
   */
  budgetStatus(tenantId: string, target: { appId?: string; keyId?: string; at?: string } = {}) {
    const path = target.keyId
      ? `/admin/v1/tenants/${enc(tenantId)}/keys/${enc(target.keyId)}/budgets`
      : target.appId
        ? `/admin/v1/tenants/${enc(tenantId)}/apps/${enc(target.appId)}/budgets`
        : `/admin/v1/tenants/${enc(tenantId)}/budgets`;
    return this.call<BudgetStatus>('policy', 'GET', target.at ? `${path}?at=${enc(target.at)}` : path);
  }

  createCredential(input: { name: string; provider: string; secret: string; tenantId?: string | null }) {
    return this.call<{ id: string; version: number }>('secrets', 'POST', '/admin/v1/credentials', input);
  }

  rotateCredential(credentialId: string, secret: string) {
    return this.call<{ id: string; version: number }>('secrets', 'POST', `/admin/v1/credentials/${enc(credentialId)}/rotate`, { secret });
  }

  createDeployment(input: DeploymentInput) {
    return this.call<{ id: string } & DeploymentInput>('routing', 'POST', '/admin/v1/deployments', input);
  }

  /** Changes weights, priority, price, operations, timeouts or enabled: traffic shifts without a restart. */
  updateDeployment(id: string, patch: Partial<Pick<DeploymentInput, 'weight' | 'priority' | 'operations' | 'timeouts'>> & { enabled?: boolean }) {
    return this.call<{ id: string } & DeploymentInput>('routing', 'PATCH', `/admin/v1/deployments/${enc(id)}`, patch);
  }

  /** Outlier ejection per deployment, as one ingress replica sees it (`opsUrl`: that ingress's ops port). */
  deploymentHealth(ingressUrl: string) {
    return fetch(`${ingressUrl}/admin/v1/deployments/health`, { headers: { authorization: `Bearer ${this.token}` } }).then(
      async (r) => (await r.json()) as { data: Array<{ deploymentId: string; state: string; ejections: number }>; draining: boolean },
    );
  }

  listDeployments(tenantId?: string) {
    return this.call<Array<{ id: string } & DeploymentInput>>('routing', 'GET', `/admin/v1/deployments${tenantId ? `?tenantId=${enc(tenantId)}` : ''}`);
  }

  usage(tenantId: string, fromMs = 0) {
    return this.call<{ tenantId: string; rows: Array<{ served_model: string; requests: number; input_tokens: number; output_tokens: number; reasoning_tokens: number; cost_usd: number }> }>(
      'metering',
      'GET',
      `/admin/v1/tenants/${enc(tenantId)}/usage?fromMs=${fromMs}`,
    );
  }

  /**
   * Rollup analytics: one tenant's, or the platform view when tenantId is undefined.
   * groupBy: tenant, app, model, provider, status, reason, hour, day.
   */
  analytics(query: { tenantId?: string; fromMs?: number; toMs?: number; groupBy?: string[]; provider?: string; model?: string }) {
    const params = new URLSearchParams();
    params.set('fromMs', String(query.fromMs ?? 0));
    if (query.toMs !== undefined) params.set('toMs', String(query.toMs));
    if (query.groupBy?.length) params.set('groupBy', query.groupBy.join(','));
    if (query.provider) params.set('provider', query.provider);
    if (query.model) params.set('model', query.model);
    const path = query.tenantId ? `/admin/v1/tenants/${enc(query.tenantId)}/analytics` : '/admin/v1/analytics';
    return this.call<{ tenantId?: string; rows: Array<Record<string, string | number>> }>('metering', 'GET', `${path}?${params.toString()}`);
  }

  /** The ordered timeline of one request. */
  requestTimeline(tenantId: string, requestId: string) {
    return this.call<{ requestId: string; tenantId: string; traceId: string; steps: Array<{ atMs: number; step: string; detail: Record<string, unknown> }>; pending: string[] }>(
      'metering',
      'GET',
      `/admin/v1/requests/${enc(requestId)}/timeline?tenantId=${enc(tenantId)}`,
    );
  }

  /** Usage grouped by tenant, app, key or end user (each row names its group: app_id, key_id, end_user_id, tenant_id). */
  usageBy(tenantId: string, groupBy: 'tenant' | 'app' | 'key' | 'end_user', fromMs = 0) {
    return this.call<{ tenantId: string; groupBy: string; rows: Array<Record<string, string | number>> }>(
      'metering',
      'GET',
      `/admin/v1/tenants/${enc(tenantId)}/usage?fromMs=${fromMs}&groupBy=${groupBy}`,
    );
  }

  meteredRequest(tenantId: string, requestId: string) {
    return this.call<Record<string, string | number>>('metering', 'GET', `/admin/v1/tenants/${enc(tenantId)}/requests/${enc(requestId)}`);
  }

  auditRecords(tenantId: string, requestId?: string) {
    return this.call<{ tenantId: string; records: Array<Record<string, string | number>> }>(
      'audit',
      'GET',
      `/admin/v1/tenants/${enc(tenantId)}/audit${requestId ? `?requestId=${enc(requestId)}` : ''}`,
    );
  }

  private async call<T>(service: keyof AdminEndpoints, method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(this.endpoints[service] + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new AdminApiError(response.status, error?.code ?? 'error', error?.message ?? text.slice(0, 200));
    }
    return parsed as T;
  }
}

const enc = encodeURIComponent;
