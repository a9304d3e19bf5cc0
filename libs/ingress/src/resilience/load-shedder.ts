/**
 * Per-replica admission: a cap on in-flight upstream requests and a fair share of it per
 * tenant. Below `softShare` of the cap anyone is admitted; above it, a tenant holding
 * more than its fair share (cap / tenants with requests in flight) is refused, so a noisy
 * tenant is shed first; at the cap everyone is. Admission happens before any upstream call.
 */
export interface LoadShedderOptions {
  maxInFlight: number;
  /** Share of the cap under which fairness is not enforced (0.5 = half). */
  softShare: number;
}

export type Admission = { ok: true; release: () => void } | { ok: false; reason: 'overloaded' | 'tenant_over_share' };

export class LoadShedder {
  private inFlight = 0;
  private readonly perTenant = new Map<string, number>();

  constructor(private readonly options: LoadShedderOptions) {}

  admit(tenantId: string): Admission {
    const { maxInFlight, softShare } = this.options;
    if (this.inFlight >= maxInFlight) return { ok: false, reason: 'overloaded' };
    const mine = this.perTenant.get(tenantId) ?? 0;
    if (this.inFlight >= maxInFlight * softShare) {
      const tenants = this.perTenant.size + (mine === 0 ? 1 : 0);
      if (mine + 1 > Math.max(1, Math.floor(maxInFlight / tenants))) return { ok: false, reason: 'tenant_over_share' };
    }
    this.inFlight++;
    this.perTenant.set(tenantId, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        const n = (this.perTenant.get(tenantId) ?? 1) - 1;
        if (n <= 0) this.perTenant.delete(tenantId);
        else this.perTenant.set(tenantId, n);
      },
    };
  }

  get current(): number {
    return this.inFlight;
  }
}
