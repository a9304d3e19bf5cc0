import { Inject, Injectable } from '@nestjs/common';
import { budgetLines, periodBoundsMs, type BudgetScope, type BudgetStore } from '@asc/spend';
import { PolicyError } from './policy.error';
import { PolicyVersionsService } from './policy-versions.service';
import { TenancyService } from './tenancy.service';

export const BUDGET_COUNTERS = Symbol('BUDGET_COUNTERS');

/**
 * Where the data plane's budget counters are read from: Redis (shared by every ingress
 * replica) in production, the ingress's in-process store in embedded mode; none when this
 * service was not given access to them (limits and periods are still reported).
 */
export interface BudgetCounters {
  kind: 'redis' | 'memory';
  store: BudgetStore;
}

/** One budget that applies to the scope asked about, with its counter in the current period. */
export interface BudgetStatusLine {
  scope: BudgetScope;
  /** The tenant id, app id or key id the counter is kept for. */
  scopeId: string;
  period: 'day' | 'month';
  periodKey: string;
  limitUsd: number;
  /** Settled spend this period; null when the counters are not readable from here. */
  spentUsd: number | null;
  /** Held by requests in flight (their maximum cost). */
  reservedUsd: number | null;
  /** limit − spent − reserved, never below 0. */
  remainingUsd: number | null;
  /** When the period ends and the counter starts again from 0 (UTC). */
  resetsAt: string;
  /** Thresholds already reported as budget.threshold events this period (0.8, 1). */
  thresholdsCrossed: number[] | null;
}

export interface BudgetStatusView {
  tenantId: string;
  appId: string | null;
  keyId: string | null;
  /** 'redis' | 'memory': where the counters were read; 'unavailable': not configured for this service. */
  counters: BudgetCounters['kind'] | 'unavailable';
  at: string;
  budgets: BudgetStatusLine[];
}

/**
 * The budget-status view for operators: for a tenant, an app or a key, every budget of the
 * effective policy that counts that scope or one above it (a key's requests count against
 * its key, app and tenant budgets), with the counters ingress keeps.
 */
@Injectable()
export class BudgetStatusService {
  constructor(
    private readonly tenancy: TenancyService,
    private readonly policies: PolicyVersionsService,
    @Inject(BUDGET_COUNTERS) private readonly counters: BudgetCounters | null,
  ) {}

  async status(tenantId: string, target: { appId?: string; keyId?: string }, nowMs: number): Promise<BudgetStatusView> {
    await this.tenancy.getTenant(tenantId);
    let appId = '';
    let keyId = '';
    let scopes: BudgetScope[] = ['tenant'];
    if (target.keyId) {
      // 404 for a key of another tenant, like every other tenant-scoped admin read.
      appId = (await this.tenancy.getApiKey(tenantId, target.keyId)).appId;
      keyId = target.keyId;
      scopes = ['tenant', 'app', 'key'];
    } else if (target.appId) {
      appId = (await this.tenancy.getApp(tenantId, target.appId)).id;
      scopes = ['tenant', 'app'];
    }
    const effective = await this.policies.effective(tenantId, appId, keyId);
    const settings = (effective.policy?.budgets ?? []).filter((b) => scopes.includes(b.scope));
    const lines = budgetLines(settings, { tenantId, appId, keyId, endUserId: '', model: '' }, nowMs);
    const states = this.counters ? await this.counters.store.status(lines).catch(() => {
      // Never the store's own message: it may name the Redis host.
      throw new PolicyError('budget_counters_unavailable', 'the budget counters cannot be read right now; retry shortly', 503);
    }) : undefined;
    return {
      tenantId,
      appId: appId || null,
      keyId: keyId || null,
      counters: this.counters?.kind ?? 'unavailable',
      at: new Date(nowMs).toISOString(),
      budgets: lines.map((line, i) => {
        const s = states?.[i];
        return {
          scope: line.ref.scope,
          scopeId: line.ref.id,
          period: line.ref.period,
          periodKey: line.ref.periodKey,
          limitUsd: line.limitUsd,
          spentUsd: s?.spentUsd ?? null,
          reservedUsd: s?.reservedUsd ?? null,
          remainingUsd: s?.remainingUsd ?? null,
          resetsAt: new Date(periodBoundsMs(line.ref.period, line.ref.periodKey).endMs).toISOString(),
          thresholdsCrossed: s?.thresholdsCrossed ?? null,
        };
      }),
    };
  }
}
