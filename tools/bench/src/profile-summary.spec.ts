import { strict as assert } from 'node:assert';
import { Session } from 'node:inspector';
import { describe, it } from 'node:test';
import { CpuProfile, summarizeProfile } from './profile-summary';

const NM = 'file:///repo/node_modules';
const DIST = 'file:///repo/dist';

/** A profile from a list of stacks (root first) with the time each was on the CPU, in µs. */
function profileOf(stacks: Array<{ frames: Array<[string, string]>; us: number }>): CpuProfile {
  const nodes: CpuProfile['nodes'] = [{ id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [] }];
  const samples: number[] = [];
  const timeDeltas: number[] = [0];
  for (const { frames, us } of stacks) {
    let parent = nodes[0];
    for (const [functionName, url] of frames) {
      let child = (parent.children ?? []).map((id) => nodes[id - 1]).find((n) => n.callFrame.functionName === functionName && n.callFrame.url === url);
      if (!child) {
        child = { id: nodes.length + 1, callFrame: { functionName, url, lineNumber: 0 }, children: [] };
        nodes.push(child);
        parent.children?.push(child.id);
      }
      parent = child;
    }
    samples.push(parent.id);
    timeDeltas.push(us);
  }
  timeDeltas.pop(); // the delta before sample i+1 is sample i's duration; the last sample's is not recorded
  return { nodes, startTime: 0, endTime: timeDeltas.reduce((a, b) => a + b, 0), samples, timeDeltas };
}

const area = (s: ReturnType<typeof summarizeProfile>, name: string) => s.areas.find((a) => a.area.startsWith(name))?.selfMs ?? 0;

describe('summarizeProfile', () => {
  it('charges Node core and native frames to the package that called them, and keeps idle out of the shares', () => {
    const profile = profileOf([
      { frames: [['makeUnaryRequest', `${NM}/@grpc/grpc-js/build/src/client.js`], ['request', 'node:internal/http2/core'], ['mapToHeaders', 'node:internal/http2/util']], us: 2000 },
      { frames: [['makeUnaryRequest', `${NM}/@grpc/grpc-js/build/src/client.js`], ['writevGeneric', 'node:internal/stream_base_commons'], ['writev', '']], us: 1000 },
      { frames: [['preHandler', `${NM}/fastify/lib/handle-request.js`], ['parseInboundChat', `${DIST}/libs/ingress/src/inbound-apis.js`], ['_parse', `${NM}/zod/v3/types.cjs`]], us: 3000 },
      { frames: [['handle', `${DIST}/libs/ingress/src/data-plane.controller.js`], ['parse', '']], us: 1000 },
      { frames: [['parserOnHeadersComplete', 'node:_http_common']], us: 1000 },
      { frames: [['(garbage collector)', '']], us: 1000 },
      { frames: [['(idle)', '']], us: 5000 },
      { frames: [['(idle)', '']], us: 0 },
    ]);
    const s = summarizeProfile(profile);
    assert.equal(area(s, 'gRPC'), 2, 'HTTP/2 framing under grpc-js is gRPC time');
    assert.equal(area(s, 'socket write'), 1, 'the writev syscall is its own area, whoever wrote');
    assert.equal(area(s, 'zod'), 3);
    assert.equal(area(s, 'JSON'), 1, 'JSON.parse (a native frame) is JSON time, not its caller');
    assert.equal(area(s, 'Node HTTP'), 1, 'core frames with no package caller stay in Node');
    assert.equal(area(s, 'garbage'), 1);
    assert.equal(s.idleMs, 5);
    assert.equal(s.busyMs, 9);
    assert.ok(!s.areas.some((a) => a.area === 'idle'));
    assert.ok(Math.abs(s.areas.reduce((a, b) => a + b.share, 0) - 1) < 1e-9);
    const grpc = s.areas.find((a) => a.area.startsWith('gRPC'));
    assert.equal(grpc?.ownMs, 0, 'none of it ran in grpc-js scripts themselves');
  });

  it('keeps only the samples inside the window', () => {
    const profile = profileOf([
      { frames: [['_parse', `${NM}/zod/v3/types.cjs`]], us: 1000 },
      { frames: [['next', `${NM}/fastify/lib/hooks.js`]], us: 1000 },
      { frames: [['_parse', `${NM}/zod/v3/types.cjs`]], us: 1000 },
      { frames: [['(idle)', '']], us: 0 },
    ]);
    // Samples are at t = 0, 1000, 2000 µs; keep the middle one.
    const s = summarizeProfile(profile, { fromUs: 500, toUs: 1500 });
    assert.equal(s.busyMs, 1);
    assert.equal(area(s, 'Nest / Fastify'), 1);
    assert.equal(area(s, 'zod'), 0);
  });

  it('reads a profile taken by V8 and charges a busy loop to the function that runs it', async () => {
    const session = new Session();
    session.connect();
    const post = (method: string, params?: object) =>
      new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 100 });
    await post('Profiler.start');
    const end = Date.now() + 300;
    let n = 0;
    while (Date.now() < end) for (let i = 0; i < 10_000; i++) n += Math.sqrt(i);
    const { profile } = (await post('Profiler.stop')) as { profile: CpuProfile };
    session.disconnect();
    assert.ok(n > 0);
    const s = summarizeProfile(profile);
    assert.ok(s.busyMs > 0);
    // This file is neither a package nor ASC code: its loop is "other", and the heaviest function.
    assert.equal(s.areas[0]?.area, 'other', `areas: ${JSON.stringify(s.areas.map((a) => [a.area, a.selfMs]))}`);
    assert.match(s.functions[0]?.name ?? '', /profile-summary\.spec\.js/);
  });
});
