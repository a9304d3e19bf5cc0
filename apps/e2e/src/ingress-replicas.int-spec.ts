import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startSimulator } from '@asc/simulator';
import { missingInfra, startIngressReplica, startProductionSuite, type NodeProcess, type ProductionSuite } from '@asc/testing';

/**
 * Scale-out drill (docs/reliability.md, "Scale-out"): two ingress replicas of one production
 * suite, each with a 10-minute key cache, so only the config-change event can evict a key. A
 * revoked key must be refused by both, and by both within about the same time.
 */
describe('two ingress replicas', async () => {
  const skip = await missingInfra('postgres', 'kafka', 'clickhouse');
  const run = randomBytes(4).toString('hex');
  const providerKey = `sk-sim-${randomBytes(12).toString('hex')}`;
  const tenant = `acme-${run}`;
  let suite: ProductionSuite | undefined;
  let simulator: Awaited<ReturnType<typeof startSimulator>> | undefined;
  let second: NodeProcess | undefined;
  let replicas: string[] = [];

  before(async () => {
    if (skip) return;
    simulator = await startSimulator({ port: 0, acceptedKeys: [providerKey] });
    suite = await startProductionSuite({ ingressEnv: { INGRESS_CONFIG_CACHE_TTL_MS: '600000' } });
    const replica = await startIngressReplica(suite);
    second = replica.process;
    const http = replica.httpPort;
    replicas = [`http://127.0.0.1:${suite.http.ingress}`, `http://127.0.0.1:${http}`];
    const admin = suite.admin;
    await admin.createTenant({ id: tenant, name: 'Acme' });
    await admin.putPolicy(tenant, { allowedModels: ['support-chat'], allowedRegions: ['eu-west-1'] });
    const credential = await admin.createCredential({ name: 'sim', provider: 'openai', secret: providerKey });
    await admin.createDeployment({
      model: 'support-chat', provider: 'openai', upstreamModel: 'gpt-4o-mini', region: 'eu-west-1',
      baseUrl: `${simulator.url}/v1`, credentialId: credential.id, price: { inputPerMtokUsd: 3, outputPerMtokUsd: 15 },
    });
  });

  after(async () => {
    await second?.stop();
    await suite?.stop();
    await simulator?.close();
  });

  it('both refuse a revoked key, within the same time', { skip }, async () => {
    const admin = suite!.admin;
    const app = await admin.createApp(tenant, `revocation-${run}`);
    const { id, key } = await admin.createApiKey(tenant, { appId: app.id });
    const ask = async (base: string) =>
      (
        await fetch(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'support-chat', messages: [{ role: 'user', content: 'hi' }] }),
        })
      ).status;
    // Both replicas have the key cached (for 10 minutes).
    for (const base of replicas) assert.equal(await ask(base), 200, `${base} serves the key`);

    await admin.revokeApiKey(tenant, id);
    const revokedAt = Date.now();
    const refusedAfter = await Promise.all(
      replicas.map(async (base) => {
        for (;;) {
          if ((await ask(base)) === 401) return Date.now() - revokedAt;
          if (Date.now() - revokedAt > 10_000) return Number.POSITIVE_INFINITY;
          await new Promise((r) => setTimeout(r, 20));
        }
      }),
    );
    console.log(`[drill] two ingress replicas refused the revoked key after ${refusedAfter.join(' / ')} ms`);
    for (const ms of refusedAfter) assert.ok(ms < 5_000, `a replica took ${ms} ms to refuse the revoked key`);
    // Same mechanism, same time: each replica has its own consumer group on the config topic.
    assert.ok(Math.abs(refusedAfter[0] - refusedAfter[1]) < 2_000, `replicas differ by ${Math.abs(refusedAfter[0] - refusedAfter[1])} ms`);
    for (const base of replicas) assert.equal(await ask(base), 401, `${base} keeps refusing`);
  });
});
