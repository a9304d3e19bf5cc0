import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

/** Who made an admin call and under which request id: what an admin change is recorded with. */
export interface AdminCaller {
  /** The caller identity the admin guard established, or 'operator' for the shared admin token. */
  actor: string;
  requestId: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller of an admin call; the request id is the client's x-request-id when well-formed, else a fresh one. */
export function adminCallerOf(request: FastifyRequest): AdminCaller {
  const header = request.headers['x-request-id'];
  const requestId = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
  // A guard that authenticates individual callers sets `adminActor`; the shared token has none.
  const actor = (request as FastifyRequest & { adminActor?: unknown }).adminActor;
  return { actor: typeof actor === 'string' && actor ? actor : 'operator', requestId };
}

/** Parameter decorator: `@Caller() caller: AdminCaller`. */
export const Caller = createParamDecorator((_data: unknown, ctx: ExecutionContext): AdminCaller => adminCallerOf(ctx.switchToHttp().getRequest<FastifyRequest>()));
