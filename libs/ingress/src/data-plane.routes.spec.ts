import { strict as assert } from 'node:assert';
import { createServer, IncomingMessage, request, ServerResponse, type Server } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { rawSink } from './data-plane.routes';

describe('rawSink (the HTTP response the runner writes to)', () => {
  let server: Server;
  let seen: { corkedBeforeFlush: number; corkedAfter: number; bufferedAfter: number } | undefined;

  before(async () => {
    server = createServer((_req, res) => {
      const sink = rawSink(res);
      sink.openStream({});
      sink.write('data: {"first":"token"}\n\n');
      const socket = res.socket!;
      const corkedBeforeFlush = socket.writableCorked;
      sink.flush?.();
      seen = { corkedBeforeFlush, corkedAfter: socket.writableCorked, bufferedAfter: socket.writableLength };
      sink.write('data: [DONE]\n\n');
      sink.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('hands the head and the first event to the kernel on flush, not at the next tick', async () => {
    const { port } = server.address() as AddressInfo;
    const text = await new Promise<string>((resolve, reject) => {
      request({ port, host: '127.0.0.1', method: 'POST', path: '/' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(text, 'data: {"first":"token"}\n\ndata: [DONE]\n\n');
    assert.ok(seen);
    assert.equal(seen.corkedBeforeFlush, 1, "Node's response corks its socket until the next tick");
    assert.equal(seen.corkedAfter, 0);
    assert.equal(seen.bufferedAfter, 0, 'nothing left in the socket buffer');
  });

  it('makes no accessors per answer (getters live on the prototype, made once)', () => {
    // An object literal with getters made an accessor pair per answer, and V8 allocates those
    // in the old generation: dead after the request but collected only by a full GC, they kept
    // the response and everything it references alive through every scavenge (6–8 KB a
    // request copied to the old generation; docs/benchmarks.md, twelfth session).
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    const sink = rawSink(res);
    const own = Object.getOwnPropertyNames(sink).filter((name) => Object.getOwnPropertyDescriptor(sink, name)?.get);
    assert.deepEqual(own, []);
    assert.equal(sink.started, false);
    assert.equal(sink.closed, false);
  });
});
