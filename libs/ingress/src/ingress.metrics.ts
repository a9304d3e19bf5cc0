import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { EventPublisher } from '@asc/events';
import { METRICS, ServiceMetrics } from '@asc/service-kit';
import { EVENT_PUBLISHER } from './ingress.tokens';
import type { RequestCompletedV1 } from '@asc/events';
import type { DeploymentHealthView } from './resilience/outlier-detector';

/**
 * Data-plane metrics. Labels are bounded: tenant ids come from authenticated keys only
 * (unauthenticated requests are counted under tenant ""), never from the request body.
 */
@Injectable()
export class IngressMetrics {
  private readonly requests: Counter<'tenant_id' | 'api' | 'status' | 'code'>;
  private readonly duration: Histogram<'api' | 'stream'>;
  private readonly ttft: Histogram<'provider'>;
  private readonly tokens: Counter<'tenant_id' | 'direction'>;
  private readonly attempts: Counter<'deployment_id' | 'outcome'>;
  private readonly retriesRefused: Counter<'deployment_id'>;
  private deploymentView: () => DeploymentHealthView[] = () => [];

  constructor(@Inject(METRICS) metrics: ServiceMetrics, @Inject(EVENT_PUBLISHER) events: EventPublisher) {
    const registers = [metrics.registry];
    const view = () => this.deploymentView();
    new Gauge({
      name: 'asc_ingress_deployment_ejected',
      help: 'Outlier ejection per deployment on this replica (1 ejected or half-open, 0 healthy)',
      labelNames: ['deployment_id'],
      registers,
      collect() {
        this.reset();
        for (const d of view()) this.set({ deployment_id: d.deploymentId }, d.state === 'healthy' ? 0 : 1);
      },
    });
    this.attempts = new Counter({
      name: 'asc_ingress_upstream_attempts_total',
      help: 'Upstream attempts by deployment and outcome (ok, or the failure reason); fallbacks show as failed attempts followed by another',
      labelNames: ['deployment_id', 'outcome'],
      registers,
    });
    this.retriesRefused = new Counter({
      name: 'asc_ingress_retry_budget_exhausted_total',
      help: 'Retries or fallbacks refused because the failing deployment spent its retry budget',
      labelNames: ['deployment_id'],
      registers,
    });
    this.requests = new Counter({
      name: 'asc_ingress_requests_total',
      help: 'Requests by tenant, API, outcome and HTTP status',
      labelNames: ['tenant_id', 'api', 'status', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'asc_ingress_request_duration_seconds',
      help: 'Time from request accepted to response finished',
      labelNames: ['api', 'stream'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.ttft = new Histogram({
      name: 'asc_ingress_time_to_first_token_seconds',
      help: 'Time from request accepted to the first streamed token sent to the client',
      labelNames: ['provider'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.tokens = new Counter({ name: 'asc_ingress_tokens_total', help: 'Tokens metered', labelNames: ['tenant_id', 'direction'], registers });
    new Gauge({
      name: 'asc_events_buffered',
      help: 'Events accepted but not yet acknowledged by the event log',
      registers,
      collect() {
        this.set(events.stats().buffered);
      },
    });
    new Gauge({
      name: 'asc_events_lost',
      help: 'Events dropped because the buffer was full or the log stayed unreachable at shutdown (alarm on > 0)',
      registers,
      collect() {
        this.set(events.stats().failed);
      },
    });
  }

  /** Where the ejected gauge reads outlier state (the runner's detector). */
  watchDeployments(view: () => DeploymentHealthView[]): void {
    this.deploymentView = view;
  }

  retryRefused(deploymentId: string): void {
    this.retriesRefused.inc({ deployment_id: deploymentId });
  }

  observe(record: RequestCompletedV1): void {
    for (const a of record.attempts ?? []) this.attempts.inc({ deployment_id: a.deploymentId, outcome: a.status === 'ok' ? 'ok' : a.reasonCode });
    this.requests.inc({ tenant_id: record.tenantId, api: record.api, status: record.status, code: String(record.httpStatus) });
    this.duration.observe({ api: record.api, stream: record.stream ? '1' : '0' }, record.latencyMs / 1000);
    if (record.ttftMs > 0) this.ttft.observe({ provider: record.provider }, record.ttftMs / 1000);
    if (record.inputTokens) this.tokens.inc({ tenant_id: record.tenantId, direction: 'input' }, record.inputTokens);
    if (record.outputTokens) this.tokens.inc({ tenant_id: record.tenantId, direction: 'output' }, record.outputTokens);
  }
}
