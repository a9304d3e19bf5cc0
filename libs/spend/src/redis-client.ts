import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

export interface SpendRedisOptions {
  /** A command that takes longer fails (and the tenant's failure mode applies); default 250 ms. */
  commandTimeoutMs?: number;
  /** How long connectSpendRedis waits for the first connection before returning anyway; default 2000 ms. */
  readyTimeoutMs?: number;
  /** Called on connection errors (to log them; the client keeps reconnecting). */
  onError?: (err: Error) => void;
}

/**
 * One ioredis client for the three spend stores, set up for the hot path:
 * - auto-pipelining: commands issued in the same tick (a rate-limit check and a budget
 *   reservation from Promise.all) leave in one write and come back in one round trip;
 * - no offline queue and no per-request retries: while Redis is down a command fails at
 *   once instead of waiting for a reconnect, so the tenant's failure mode (open: local
 *   limits; closed: refuse) decides immediately; the client reconnects in the background.
 * Resolves when connected, or after readyTimeoutMs with the client still reconnecting
 * (ingress must start while Redis is down: fail-open tenants keep being served).
 */
export async function connectSpendRedis(url: string, options: SpendRedisOptions = {}): Promise<Redis> {
  const redisOptions: RedisOptions = {
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 250,
    connectTimeout: 1000,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    lazyConnect: true,
  };
  const redis = new Redis(url, redisOptions);
  redis.on('error', (err: Error) => options.onError?.(err));
  const ready = redis.connect().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([ready, new Promise((r) => (timer = setTimeout(r, options.readyTimeoutMs ?? 2000)))]);
  clearTimeout(timer);
  return redis;
}

/** The keys and arguments of one script call. */
export interface ScriptCall {
  keys: string[];
  args: Array<string | number>;
}

/**
 * A Lua script run with EVALSHA (the body crosses the network only after a NOSCRIPT, e.g.
 * once per Redis restart). Calls made in the same tick share a round trip through the
 * client's auto-pipelining.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Reply of a script as numbers (scripts return flat integer arrays). */
export function numbers(reply: unknown): number[] {
  if (!Array.isArray(reply)) throw new Error('unexpected script reply');
  return reply.map((v) => Number(v));
}
