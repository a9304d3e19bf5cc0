import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { AdminClient } from '@asc/admin-client';
import { freePort } from '@asc/service-kit';
import { SimulatorHandle, startSimulator } from '@asc/simulator';
import { eventually, missingInfra, ProductionSuite, startProductionSuite } from '@asc/testing';

/**
 * The request runner's resilience in production mode (six processes on Postgres, Kafka and
 * ClickHouse): fallback along the plan with every attempt in ClickHouse, weights changed
 * through the admin API shifting traffic without a restart, and a SIGTERM with 200 open
 * streams that cuts none of them silently and meters all of them.
 */
describe('resilience: fallbacks, weights and drain on six processes', async () => {
  const skip = await missingInfra('postgres', 'kafka', 'clickhouse');
  const run = randomBytes(4).toString('hex');
  const providerKey = `sk-sim-${randomBytes(12).toString('hex')}`;
  const tenant = `resil-${run}`;
  let suite: ProductionSuite | undefined;
  let blue: SimulatorHandle | undefined;
  let green: SimulatorHandle | undefined;
  let admin: AdminClient;
  let apiKey: string;
  let opsUrl: string;
  const deployments: Record<string, string> = {};

  before(async () => {
    if (skip) return;
    blue = await startSimulator({ port: 0, acceptedKeys: [providerKey] });
    green = await startSimulator({ port: 0, acceptedKeys: [providerKey] });
    suite = await startProductionSuite({ ingressEnv: { INGRESS_CONFIG_CACHE_TTL_MS: '600000', INGRESS_DRAIN_GRACE_MS: '1500', INGRESS_MAX_IN_FLIGHT: '1000' } });
    admin = suite.admin;
    // Health, metrics and the admin API live on ingress's ops port, apart from the data plane.
    opsUrl = suite.ingressOpsUrl;
    await admin.createTenant({ id: tenant, name: 'Resilient' });
    const app = await admin.createApp(tenant, 'bot');
    apiKey = (await admin.createApiKey(tenant, { appId: app.id })).key;
    await admin.putPolicy(tenant, { allowedModels: ['failover-chat', 'split-chat', 'drain-chat'], allowedRegions: ['eu-west-1'] });
    const credential = await admin.createCredential({ name: 'sim', provider: 'openai', secret: providerKey });
    const base = { provider: 'openai' as 'openai' | 'anthropic', upstreamModel: 'gpt-4o-mini', region: 'eu-west-1', credentialId: credential.id, price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2 } };
    const dark = await freePort();
    deployments.dark = (await admin.createDeployment({ ...base, model: 'failover-chat', baseUrl: `http://127.0.0.1:${dark}/v1`, priority: 1 })).id;
    deployments.backup = (await admin.createDeployment({ ...base, model: 'failover-chat', provider: 'anthropic', upstreamModel: 'claude-sonnet-4-5', baseUrl: `${green.url}/anthropic/v1`, priority: 2 })).id;
    deployments.blue = (await admin.createDeployment({ ...base, model: 'split-chat', baseUrl: `${blue.url}/v1`, weight: 50 })).id;
    deployments.green = (await admin.createDeployment({ ...base, model: 'split-chat', baseUrl: `${green.url}/v1`, weight: 50 })).id;
    await admin.createDeployment({ ...base, model: 'drain-chat', baseUrl: `${blue.url}/v1` });
  });

  after(async () => {
    await suite?.stop();
    await blue?.close();
    await green?.close();
  });

  it('serves 100 % from the fallback while the primary is down, with the attempts in ClickHouse, and ejects the primary', { skip }, async () => {
    const client = new OpenAI({ apiKey, baseURL: suite!.ingressBaseUrl, maxRetries: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const raw = await client.chat.completions.create({ model: 'failover-chat', messages: [{ role: 'user', content: `hello ${i}` }] }).withResponse();
      assert.equal(raw.response.headers.get('x-asc-deployment'), deployments.backup, `request ${i}`);
      ids.push(raw.response.headers.get('x-request-id')!);
    }
    const first = await eventually(() => admin.meteredRequest(tenant, ids[0]), 30_000);
    assert.equal(first.deployment_id, deployments.backup);
    assert.equal(first.provider, 'anthropic');
    assert.equal(Number(first.fallback_count), 1);
    const attempts = JSON.parse(String(first.attempts)) as Array<{ deploymentId: string; status: string; reasonCode: string }>;
    assert.deepEqual(attempts.map((a) => [a.deploymentId, a.status]), [[deployments.dark, 'failed'], [deployments.backup, 'ok']]);
    assert.equal(attempts[0].reasonCode, 'connect_error');
    const last = await eventually(() => admin.meteredRequest(tenant, ids[19]), 30_000);
    assert.equal(Number(last.fallback_count), 0, 'once ejected, the dark deployment is skipped');
    const health = await admin.deploymentHealth(opsUrl);
    assert.equal(health.data.find((d) => d.deploymentId === deployments.dark)?.state, 'ejected');
    const metrics = await (await fetch(`${opsUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`asc_ingress_deployment_ejected\\{deployment_id="${deployments.dark}"[^}]*\\} 1`));
  });

  it('shifts traffic when weights change through the admin API, without a restart', { skip }, async () => {
    const client = new OpenAI({ apiKey, baseURL: suite!.ingressBaseUrl, maxRetries: 0 });
    const send = async (n: number) => {
      blue!.reset();
      green!.reset();
      for (let i = 0; i < n; i++) await client.chat.completions.create({ model: 'split-chat', messages: [{ role: 'user', content: 'hi' }] });
      return { blue: blue!.stats().total, green: green!.stats().total };
    };
    const even = await send(100);
    assert.ok(even.blue > 25 && even.green > 25, `50/50: ${JSON.stringify(even)}`);
    await admin.updateDeployment(deployments.blue, { weight: 0 });
    await admin.updateDeployment(deployments.green, { weight: 100 });
    await eventually(async () => assert.equal((await send(10)).blue, 0), 10_000);
    const moved = await send(50);
    assert.deepEqual(moved, { blue: 0, green: 50 });
  });

  it('drains on SIGTERM: 200 open streams end with an in-band error, none cut silently, all 200 metered', { skip }, async () => {
    blue!.configure({ tokensPerSec: 5, replyWords: 400, chunkIntervalMs: 50 });
    const started: Array<Promise<{ id: string; text: string }>> = [];
    for (let i = 0; i < 200; i++) {
      started.push(
        fetch(`${suite!.ingressBaseUrl}/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'drain-chat', stream: true, messages: [{ role: 'user', content: `stream ${i}` }] }),
        }).then(async (res) => ({ id: res.headers.get('x-request-id') ?? '', text: await res.text()})),
      );
    }
    await eventually(() => assert.equal(blue!.stats().streams, 200), 60_000);
    await eventually(async () => assert.match(await (await fetch(`${opsUrl}/readyz`)).text(), /accepting/), 5_000);
    const ingress = suite!.procs.get('ingress')!;
    ingress.child.kill('SIGTERM');
    await eventually(async () => assert.equal((await fetch(`${opsUrl}/readyz`).catch(() => ({ status: 503 }))).status, 503), 1_000);
    const results = await Promise.all(started);
    blue!.configure({ tokensPerSec: 0, replyWords: undefined });
    let inBand = 0;
    for (const r of results) {
      assert.ok(r.id, 'every stream got its headers');
      if (/"code":"shutting_down"/.test(r.text)) inBand++;
      else assert.match(r.text, /data: \[DONE\]/, `stream ${r.id} neither finished nor ended in-band`);
    }
    assert.ok(inBand > 0, 'the streams outlived the grace period and were ended in-band');
    await new Promise<void>((resolve) => (ingress.child.exitCode !== null ? resolve() : ingress.child.once('exit', () => resolve())));
    for (const r of results) {
      const row = await eventually(() => admin.meteredRequest(tenant, r.id), 30_000);
      assert.ok(Number(row.output_tokens) > 0, `${r.id} metered with what was produced`);
    }
  });
});
