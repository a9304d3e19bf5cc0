/**
 * Per-replica admission: a cap on in-flight upstream requests and a fair share of it per
 * tenant. Below `softShare` of the cap anyone is admitted; above it, a tenant holding
 * more than its fair share (cap / active tenants) is refused, so a noisy tenant is shed
 * first; at the cap everyone is. Admission happens before any upstream call.
 *
 * A tenant is active while it has a request in flight or asked within the last
 * `activeWindowMs`: counting only tenants in flight would let a noisy tenant take the whole
 * cap in the gaps between a quiet tenant's requests, and the quiet tenant's next request
 * would then find the cap full (503).
 */
export interface LoadShedderOptions {
  maxInFlight: number;
  /** Share of the cap under which fairness is not enforced (0.5 = half). */
  softShare: number;
  /** How long a tenant still counts as active after its last request (default 2 s). */
  activeWindowMs?: number;
}

export type Admission = { ok: true; release: () => void } | { ok: false; reason: 'overloaded' | 'tenant_over_share' };

export class LoadShedder {
  private inFlight = 0;
  private readonly perTenant = new Map<string, number>();
  /** Last request time per active tenant; holds every tenant in flight too (see sweep). */
  private readonly lastSeen = new Map<string, number>();
  private nextSweep = 0;
  private readonly windowMs: number;

  constructor(
    private readonly options: LoadShedderOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.windowMs = options.activeWindowMs ?? 2_000;
  }

  admit(tenantId: string): Admission {
    const { maxInFlight, softShare } = this.options;
    const now = this.now();
    // Swept on every admission (at most every quarter window), not only near the cap: the
    // map must not keep every tenant ever seen on a replica that is rarely loaded.
    this.sweep(now);
    this.lastSeen.set(tenantId, now);
    if (this.inFlight >= maxInFlight) return { ok: false, reason: 'overloaded' };
    const mine = this.perTenant.get(tenantId) ?? 0;
    if (this.inFlight >= maxInFlight * softShare) {
      if (mine + 1 > Math.max(1, Math.floor(maxInFlight / this.lastSeen.size))) return { ok: false, reason: 'tenant_over_share' };
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

  /** Tenants counted for fair shares right now (in flight, or seen within the window). */
  get activeTenants(): number {
    return this.lastSeen.size;
  }

  /** Forgets tenants idle for longer than the window (at most every quarter window); one in flight stays. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + this.windowMs / 4;
    for (const [tenant, seen] of this.lastSeen) {
      if (now - seen > this.windowMs && !this.perTenant.has(tenant)) this.lastSeen.delete(tenant);
    }
  }
}
