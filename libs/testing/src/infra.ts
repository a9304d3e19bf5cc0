import { Socket } from 'node:net';

/** Where the integration tier finds its real infrastructure (started by .ci/run). */
export const infra = {
  postgresUrl: process.env.ASC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/asc',
  kafkaBrokers: (process.env.ASC_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  clickhouseUrl: process.env.ASC_TEST_CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
  redisUrl: process.env.ASC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
};

/** True when CI demands the integration tier: missing infrastructure is then a failure. */
export const infraRequired = process.env.ASC_REQUIRE_INFRA === '1';

export function tcpReachable(hostPort: string, timeoutMs = 1000): Promise<boolean> {
  const url = hostPort.includes('://') ? new URL(hostPort) : new URL(`tcp://${hostPort}`);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(url.port), url.hostname, () => done(true));
  });
}

/**
 * Returns a skip reason when the named infrastructure is unreachable and not required,
 * throws when it is required (CI), and returns undefined when it is there.
 * Use as: `describe('x', { skip: await missingInfra('kafka') }, ...)`.
 */
export async function missingInfra(...needs: Array<'postgres' | 'kafka' | 'clickhouse' | 'redis'>): Promise<string | undefined> {
  const targets: Record<string, string> = {
    postgres: infra.postgresUrl,
    kafka: infra.kafkaBrokers[0],
    clickhouse: infra.clickhouseUrl,
    redis: infra.redisUrl,
  };
  for (const need of needs) {
    if (!(await tcpReachable(targets[need]))) {
      const msg = `${need} is not reachable at ${targets[need]}`;
      if (infraRequired) throw new Error(`${msg} (ASC_REQUIRE_INFRA=1: integration tests may not skip)`);
      return msg;
    }
  }
  return undefined;
}
