import { strict as assert } from 'node:assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { OpenAICompatibleClient } from './openai-compatible.client';
import type { SseEvent } from './sse';
import { UpstreamError } from './upstream.error';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('OpenAICompatibleClient.postStream', () => {
  let server: Server;
  let handler: Handler = () => undefined;
  let client: OpenAICompatibleClient;
  let baseUrl: string;
  const options = { headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000 };
  const frame = (data: string) => `data: ${data}\n\n`;
  const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });
  const open = () => client.postStream({ baseUrl, apiKey: 'sk-test' }, '/chat/completions', { stream: true }, options);

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => handler(req, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    client = new OpenAICompatibleClient();
  });

  after(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('delivers every event of a long stream in order to a slow reader (the provider is paused, not buffered without bound)', async () => {
    const n = 3_000;
    const payload = 'x'.repeat(1_000);
    let pausedWrites = 0;
    handler = (_req, res) => {
      sse(res);
      let i = 0;
      const pump = () => {
        while (i < n) {
          if (!res.write(frame(`{"i":${i++},"p":"${payload}"}`))) {
            pausedWrites++;
            res.once('drain', pump);
            return;
          }
        }
        res.end(frame('[DONE]'));
      };
      pump();
    };
    const events = await open();
    let expected = 0;
    let reads = 0;
    read: for await (const read of events) {
      reads++;
      for (const e of read) {
        if (e.data === '[DONE]') break read;
        assert.equal((JSON.parse(e.data) as { i: number }).i, expected++);
      }
      if (reads % 20 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(expected, n);
    assert.ok(pausedWrites > 0, 'the provider had to wait for the reader');
  });

  it('reads the events that arrived before a cut, then throws the cut', async () => {
    handler = (req, res) => {
      sse(res);
      res.write(frame('{"n":1}') + frame('{"n":2}'), () => setTimeout(() => req.socket.destroy(), 20));
    };
    const events = await open();
    const seen: SseEvent[] = [];
    await assert.rejects(
      (async () => {
        for await (const read of events) seen.push(...read);
      })(),
      (err: unknown) => err instanceof UpstreamError && err.failure === 'protocol',
    );
    assert.deepEqual(
      seen.map((e) => e.data),
      ['{"n":1}', '{"n":2}'],
    );
  });

  it('keeps the connection when the reader stops at the last event of a complete response, aborts an open one', async () => {
    let socketsClosed = 0;
    const countClose = (socket: import('node:net').Socket) => socket.on('close', () => socketsClosed++);
    server.on('connection', countClose);
    let closedEarly = false;
    handler = (req, res) => {
      sse(res);
      // The last event first, the end of the response a moment later (as a provider's packets may come).
      if (req.headers['x-open'] === undefined) return void res.write(frame('{"n":1}') + frame('[DONE]'), () => setTimeout(() => res.end(), 20));
      res.write(frame('{"n":1}'));
      res.on('close', () => (closedEarly = !res.writableFinished));
    };
    for (let i = 0; i < 3; i++) {
      for await (const read of await open()) if (read.some((e) => e.data === '[DONE]')) break;
    }
    await new Promise((r) => setTimeout(r, 100));
    server.off('connection', countClose);
    assert.equal(socketsClosed, 0, 'no connection was given up for a complete stream');
    const openOne = await client.postStream({ baseUrl, apiKey: 'sk-test' }, '/chat/completions', {}, { ...options, headers: { 'x-open': '1' } });
    for await (const read of openOne) if (read.some((e) => e.data === '{"n":1}')) break;
    const deadline = Date.now() + 2_000;
    while (!closedEarly && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(closedEarly, 'the provider saw the call end');
  });

  it('keeps a character split across two reads whole', async () => {
    const text = Buffer.from(frame('{"t":"héllo 👋"}'), 'utf8');
    const cut = text.indexOf(Buffer.from('👋')) + 2;
    handler = (_req, res) => {
      sse(res);
      res.write(text.subarray(0, cut), () => setTimeout(() => res.end(text.subarray(cut)), 20));
    };
    const got: string[] = [];
    for await (const read of await open()) got.push(...read.map((e) => e.data));
    assert.deepEqual(got, ['{"t":"héllo 👋"}']);
  });

  it('throws an error answer before the stream with its status, Retry-After and the provider’s message', async () => {
    handler = (_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end(JSON.stringify({ error: { message: 'slow down' } }));
    };
    await assert.rejects(open(), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.equal(err.status, 429);
      assert.equal(err.retryAfter, '7');
      assert.equal(err.providerMessage, 'slow down');
      return true;
    });
  });

  it('aborts through the signal, before or during the stream', async () => {
    const before = new AbortController();
    before.abort();
    await assert.rejects(
      client.postStream({ baseUrl, apiKey: 'sk-test' }, '/chat/completions', {}, { ...options, signal: before.signal }),
      (err: unknown) => err instanceof UpstreamError && err.failure === 'aborted',
    );
    handler = (_req, res) => {
      sse(res);
      res.write(frame('{"n":1}'));
    };
    const during = new AbortController();
    const events = await client.postStream({ baseUrl, apiKey: 'sk-test' }, '/chat/completions', {}, { ...options, signal: during.signal });
    await assert.rejects(
      (async () => {
        for await (const read of events) if (read.some((e) => e.data === '{"n":1}')) during.abort();
      })(),
      (err: unknown) => err instanceof UpstreamError && err.failure === 'aborted',
    );
  });
});
