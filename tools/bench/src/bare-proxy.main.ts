// The floor of the peer comparison: the least a Node gateway can do on this path — accept the
// client's POST, parse its JSON, forward it with undici (the client ASC uses), parse the JSON
// answer and send it back. No key, policy, routing, event or metering. It runs as its own
// process (BARE_PROXY_PORT, BARE_PROXY_UPSTREAM = the simulator's /v1 URL) so its CPU per
// request is read like every other contender's; it tells how much of a gateway's cost is the
// HTTP hop itself, which no governance can remove.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const upstream = new URL(process.env.BARE_PROXY_UPSTREAM ?? 'http://127.0.0.1:8090/v1');
const pool = new Pool(upstream.origin, { connections: 256, pipelining: 1 });
const path = `${upstream.pathname.replace(/\/$/, '')}/chat/completions`;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        const answer = await pool.request({
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' },
          body: JSON.stringify(body),
        });
        const text = await answer.body.text();
        JSON.parse(text); // a gateway reads the answer (usage) before it forwards it
        res.writeHead(answer.statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      } catch (err) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: (err as Error).message } }));
      }
    })();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.BARE_PROXY_PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`BARE_PROXY_READY=${typeof address === 'object' && address ? address.port : ''}`);
});
process.on('SIGTERM', () => {
  server.close();
  void pool.close().finally(() => process.exit(0));
});
