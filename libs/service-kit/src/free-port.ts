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

/** Every port this process was given, never handed out twice. */
const handedOut = new Set<number>();

/**
 * A free loopback port, for services whose clients need the port up front. With a range,
 * the port is picked at random inside it: a port that must be reused after a restart should
 * lie below the OS's ephemeral range (Linux: 32768+), where outgoing connections never
 * take it in the meantime.
 */
export async function freePort(host = '127.0.0.1', range?: { from: number; to: number }): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const candidate = range ? range.from + Math.floor(Math.random() * (range.to - range.from)) : 0;
    if (handedOut.has(candidate)) continue;
    const port = await tryListen(host, candidate);
    // A port given out before is still the caller's, bound or not: ports picked together (a
    // suite's services, before any of them binds) must all differ.
    if (port === undefined || handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(range ? `no free port on ${host} between ${range.from} and ${range.to}` : `no free port on ${host}`);
}
