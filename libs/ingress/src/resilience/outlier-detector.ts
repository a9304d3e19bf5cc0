/**
 * Outlier ejection per deployment (Envoy's outlier detection): consecutive failures or a
 * failure rate over the last calls eject a deployment for a growing interval; when it
 * ends, one half-open probe at a time decides whether it comes back. State is per ingress
 * replica. Hand-written rather than cockatiel's circuit breaker because the router must
 * skip an ejected deployment without calling it, fall back to "panic" (use them anyway)
 * when every deployment of a plan is ejected, and show the state in metrics and the admin
 * API — none of which a wrap-the-call breaker exposes.
 */
export interface OutlierOptions {
  consecutiveFailures: number;
  /** Eject when this share of the last `windowCalls` failed (and at least `minCalls` were made). */
  failureRate: number;
  windowCalls: number;
  minCalls: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export type HealthState = 'healthy' | 'ejected' | 'half_open';

export interface DeploymentHealthView {
  deploymentId: string;
  state: HealthState;
  ejections: number;
  consecutiveFailures: number;
  ejectedUntilMs: number;
}

class Health {
  consecutive = 0;
  ejections = 0;
  ejectedUntil = 0;
  probing = false;
  readonly window: boolean[] = [];
}

export class OutlierDetector {
  private readonly health = new Map<string, Health>();

  constructor(private readonly options: OutlierOptions, private readonly now: () => number = Date.now) {}

  /** May this deployment be tried now? A half-open deployment admits one probe at a time. */
  admit(deploymentId: string): 'yes' | 'probe' | 'no' {
    const h = this.health.get(deploymentId);
    if (!h || h.ejectedUntil === 0) return 'yes';
    if (this.now() < h.ejectedUntil || h.probing) return 'no';
    h.probing = true;
    return 'probe';
  }

  success(deploymentId: string): void {
    const h = this.health.get(deploymentId);
    if (!h) return;
    h.consecutive = 0;
    this.push(h, false);
    if (h.ejectedUntil !== 0) {
      // The probe came back: the deployment rejoins, and its ejection history is forgiven.
      h.ejectedUntil = 0;
      h.probing = false;
      h.ejections = 0;
      h.window.length = 0;
    }
  }

  failure(deploymentId: string): void {
    const h = this.get(deploymentId);
    h.consecutive++;
    this.push(h, true);
    if (h.ejectedUntil !== 0) {
      if (h.probing) this.eject(h); // the probe failed: out again, for longer
      return;
    }
    const failures = h.window.reduce((n, f) => n + (f ? 1 : 0), 0);
    const rateTripped = h.window.length >= this.options.minCalls && failures / h.window.length >= this.options.failureRate;
    if (h.consecutive >= this.options.consecutiveFailures || rateTripped) this.eject(h);
  }

  /** A probe that ended without a verdict (client gone, budget refused): let another try. */
  release(deploymentId: string): void {
    const h = this.health.get(deploymentId);
    if (h) h.probing = false;
  }

  state(deploymentId: string): HealthState {
    const h = this.health.get(deploymentId);
    if (!h || h.ejectedUntil === 0) return 'healthy';
    return this.now() < h.ejectedUntil ? 'ejected' : 'half_open';
  }

  view(): DeploymentHealthView[] {
    return [...this.health.entries()].map(([deploymentId, h]) => ({
      deploymentId,
      state: this.state(deploymentId),
      ejections: h.ejections,
      consecutiveFailures: h.consecutive,
      ejectedUntilMs: h.ejectedUntil,
    }));
  }

  private eject(h: Health): void {
    h.ejections++;
    h.probing = false;
    h.ejectedUntil = this.now() + Math.min(this.options.maxEjectionMs, this.options.baseEjectionMs * 2 ** (h.ejections - 1));
    h.window.length = 0;
  }

  private push(h: Health, failed: boolean): void {
    h.window.push(failed);
    if (h.window.length > this.options.windowCalls) h.window.shift();
  }

  private get(id: string): Health {
    let h = this.health.get(id);
    if (!h) {
      h = new Health();
      this.health.set(id, h);
    }
    return h;
  }
}
