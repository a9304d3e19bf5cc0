import { Redis } from 'ioredis';

/** Deletes every key under `prefix` (a test's or a bench run's own spend counters and cache entries). */
export async function dropRedisKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

/** Connects to `url`, deletes the keys under `prefix`, disconnects. */
export async function dropRedisKeysAt(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await dropRedisKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
