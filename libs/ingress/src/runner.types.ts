import type { CanonicalResponse, MeteredUsage } from '@asc/providers';
import type { Deployment } from './control-plane.port';
import type { IngressError } from './ingress.error';
import type { Operation, RequestContext } from './request-context';
import type { InboundApi } from './wire-apis';

/** One request as the edge (HTTP or gRPC) hands it to the runner. */
export interface RunnerRequest {
  api: InboundApi;
  operation: Operation;
  /** The API shape the client called, for the event and metrics ('openai.chat.completions'). */
  recordApi: string;
  body: unknown;
  /** A request header, lower-case name; undefined when absent. */
  header(name: string): string | undefined;
  traceparent?: string;
  /** The client's address (for auth-failure throttling). */
  clientAddress?: string;
  /** The client's connection: a shed refusal is paced per connection (resilience/refusal-pacer.ts). */
  connection?: object;
}

/** Where the answer goes; the HTTP edge implements it over Fastify, the gRPC edge in memory. */
export interface ResponseSink {
  /** A whole JSON answer; a string is JSON text already (an upstream body forwarded as received). */
  json(status: number, body: unknown, headers: Record<string, string>): Promise<void> | void;
  /** Sends the head of a server-sent-events response; once. */
  openStream(headers: Record<string, string>): void;
  write(text: string): void;
  /**
   * Sends what was written so far now, rather than with whatever else this turn of the event
   * loop writes: the first token of a stream leaves before the rest of the upstream read
   * that carried it is translated.
   */
  flush?(): void;
  /** While the client reads slower than the provider writes: resolves once it caught up (undefined: no wait). */
  drained?(): Promise<void> | undefined;
  end(): void;
  /** True once anything was sent: from then on failures are in-band. */
  readonly started: boolean;
  /** True once the client went away. */
  readonly closed: boolean;
  onClose(listener: () => void): void;
}

/** What a step may answer instead of an upstream call (a cache hit). */
export interface StepAnswer {
  response: CanonicalResponse;
}

/**
 * A governance step plugged into the runner (guardrails, rate limits, budgets, cache).
 * `before` runs after the policy decision and the plan, before any upstream call: it may
 * refuse (throw an IngressError, answered in the caller's shape), rewrite the request,
 * add response headers or event fields on the context, or answer (a cache hit).
 * `onOutput` is asked after each event of a stream, with the usage so far read on demand
 * (most streams have no step that needs it); returning an error ends the stream in-band.
 * `settle` runs once the outcome is known, before the event is made (what the step adds to
 * the event); `after` always runs once `before` ran, after the event, for follow-up I/O
 * (budget settlement, TPM correction, cache write). The `after`s of a request run
 * concurrently: a step must not rely on another's.
 */
export interface RunnerStep {
  readonly name: string;
  before?(ctx: RequestContext, candidates: readonly Deployment[]): Promise<StepAnswer | void> | StepAnswer | void;
  onOutput?(ctx: RequestContext, usage: () => MeteredUsage): IngressError | undefined;
  /** Once the outcome is known, before the request's event is made: adds to it, synchronously (no I/O). */
  settle?(ctx: RequestContext): void;
  after?(ctx: RequestContext): Promise<void> | void;
}
