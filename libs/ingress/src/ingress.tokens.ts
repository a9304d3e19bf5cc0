import type { OutlierOptions } from './resilience/outlier-detector';
import type { LoadShedderOptions } from './resilience/load-shedder';
import type { RetryBudgetOptions } from './resilience/retry-budget';

export const INGRESS_OPTIONS = Symbol('INGRESS_OPTIONS');
export const EVENT_PUBLISHER = Symbol('EVENT_PUBLISHER');
export const UPSTREAM_CLIENT = Symbol('UPSTREAM_CLIENT');
/** The governance steps plugged into the request runner, in order (see RunnerStep). */
export const RUNNER_STEPS = Symbol('RUNNER_STEPS');

/** Default timeouts of an upstream call, in ms; a deployment may set its own. */
export interface TimeoutDefaults {
  connectMs: number;
  /** Until the response headers; for streams, until the first token. */
  ttftMs: number;
  /** Longest gap between two streamed chunks. */
  idleMs: number;
  totalMs: number;
}

export interface ResilienceOptions {
  timeouts: TimeoutDefaults;
  /** Attempts per request, the first included (retries on one deployment, or fallbacks along the plan). */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  retryBudget: RetryBudgetOptions;
  outlier: OutlierOptions;
  shedding: LoadShedderOptions;
}

export interface IngressOptions {
  resilience: ResilienceOptions;
}

export const DEFAULT_RESILIENCE: ResilienceOptions = {
  timeouts: { connectMs: 5_000, ttftMs: 60_000, idleMs: 60_000, totalMs: 600_000 },
  maxAttempts: 3,
  backoffBaseMs: 100,
  backoffMaxMs: 2_000,
  retryBudget: { ratio: 0.2, minPerWindow: 5, windowMs: 10_000 },
  outlier: { consecutiveFailures: 5, failureRate: 0.5, windowCalls: 20, minCalls: 10, baseEjectionMs: 5_000, maxEjectionMs: 300_000 },
  shedding: { maxInFlight: 2_048, softShare: 0.5 },
};
