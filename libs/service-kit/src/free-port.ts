import { createServer } from 'node:net';

function tryListen(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A free loopback port, for services whose clients need the port up front. With a range,
 * the port is picked at random inside it: a port that must be reused after a restart should
 * lie below the OS's ephemeral range (Linux: 32768+), where outgoing connections never
 * take it in the meantime.
 */
export async function freePort(host = '127.0.0.1', range?: { from: number; to: number }): Promise<number> {
  if (!range) {
    const port = await tryListen(host, 0);
    if (port === undefined) throw new Error(`no free port on ${host}`);
    return port;
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const candidate = range.from + Math.floor(Math.random() * (range.to - range.from));
    if ((await tryListen(host, candidate)) !== undefined) return candidate;
  }
  throw new Error(`no free port on ${host} between ${range.from} and ${range.to}`);
}
