import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export const ADMIN_TOKEN = Symbol('ADMIN_TOKEN');

/**
 * Guards the admin HTTP API with one operator bearer token (SSO and RBAC come later and
 * replace this guard). Compared in constant time on digests.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(ADMIN_TOKEN) token: string) {
    this.expected = createHash('sha256').update(token).digest();
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
    const digest = createHash('sha256').update(presented).digest();
    if (!presented || !timingSafeEqual(digest, this.expected)) {
      throw new UnauthorizedException({ error: { code: 'unauthorized', message: 'a valid admin token is required' } });
    }
    return true;
  }
}
