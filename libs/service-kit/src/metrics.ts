import { collectDefaultMetrics, Registry } from 'prom-client';

export const METRICS = Symbol('METRICS');

/** One Prometheus registry per service instance (several share a process in embedded mode). */
export class ServiceMetrics {
  readonly registry = new Registry();

  constructor(readonly service: string, collectProcessMetrics: boolean) {
    this.registry.setDefaultLabels({ service });
    if (collectProcessMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
