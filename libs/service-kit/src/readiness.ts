export const READINESS = Symbol('READINESS');

export type ReadinessProbe = () => Promise<boolean>;

/** Named readiness probes (database reachable, migrations applied, consumer running…). */
export class ReadinessRegistry {
  private readonly probes = new Map<string, ReadinessProbe>();

  register(name: string, probe: ReadinessProbe): void {
    this.probes.set(name, probe);
  }

  async check(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const checks: Record<string, boolean> = {};
    await Promise.all(
      [...this.probes].map(async ([name, probe]) => {
        try {
          checks[name] = await probe();
        } catch {
          checks[name] = false;
        }
      }),
    );
    return { ready: Object.values(checks).every(Boolean), checks };
  }
}
