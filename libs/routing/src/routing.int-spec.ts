import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { routingV1 } from '@asc/contracts';
import { createGrpcClient, createLogger, freePort, GrpcCallError, GrpcClientHandle } from '@asc/service-kit';
import { eventually, infra, missingInfra, testPki, throwawayDatabase } from '@asc/testing';
import { KafkaEventBus, MemoryEventBus, silentEventBusLogger } from '@asc/events';
import { RunningRoutingService, startRoutingService } from './start-routing';

const ADMIN_TOKEN = 'routing-it-admin-token';


describe('routing service', async () => {
  const skip = await missingInfra('postgres');
  const skipKafka = skip ?? (await missingInfra('kafka'));

  describe('admin API and Plan over gRPC', { skip }, () => {
    let db: { url: string; drop(): Promise<void> };
    let service: RunningRoutingService;
    let grpc: GrpcClientHandle<typeof routingV1.RoutingServiceService>;

    const admin = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
      const res = await fetch(`${service.httpUrl}/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> & { id: string } };
    };
    const deployment = (overrides: Record<string, unknown>) => ({
      model: 'support-chat',
      provider: 'openai',
      upstreamModel: 'gpt-4o-mini',
      region: 'eu-west-1',
      baseUrl: 'https://api.openai.com/v1',
      credentialId: 'cred_0123456789abcdef0123',
      price: { inputPerMtokUsd: 0.15, outputPerMtokUsd: 0.6 },
      ...overrides,
    });
    const create = async (overrides: Record<string, unknown>) => {
      const res = await admin('POST', '/deployments', deployment(overrides));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id;
    };
    const plan = (tenantId: string, model: string, allowedRegions: string[]) =>
      grpc.client.plan({ tenantId, model, allowedRegions, operation: 'chat' });
    const ids = async (tenantId: string, model: string, allowedRegions: string[]) =>
      (await plan(tenantId, model, allowedRegions)).deployments.map((d) => d.id);

    before(async () => {
      db = await throwawayDatabase();
      const grpcPort = await freePort();
      service = await startRoutingService(
        {
          ROUTING_HTTP_HOST: '127.0.0.1',
          ROUTING_HTTP_PORT: 0,
          ROUTING_GRPC_URL: `127.0.0.1:${grpcPort}`,
          ROUTING_DATABASE_URL: db.url,
          ASC_ADMIN_TOKEN: ADMIN_TOKEN,
          KAFKA_BROKERS: [],
          KAFKA_TOPIC_PREFIX: '',
          ...testPki().config('routing'),
        },
        { collectProcessMetrics: false, logger: createLogger('warn') },
      );
      grpc = createGrpcClient(routingV1.RoutingServiceService, `127.0.0.1:${grpcPort}`, { security: testPki().security('ingress'), service: 'routing' });
    });

    after(async () => {
      grpc?.close();
      await service?.close();
      await db?.drop();
    });

    it('refuses the admin API without the admin token', async () => {
      const res = await admin('GET', '/deployments', undefined, 'wrong-token');
      assert.equal(res.status, 401);
      assert.equal((res.body.error as { code: string }).code, 'unauthorized');
    });

    it('validates deployments: provider, http(s) base URL without credentials, prices >= 0', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ provider: 'openia' }, 'provider'],
        [{ baseUrl: 'ftp://example.com' }, 'baseUrl'],
        [{ baseUrl: 'not a url' }, 'baseUrl'],
        [{ baseUrl: 'https://user:sk-secret@api.example.com' }, 'baseUrl'],
        [{ price: { inputPerMtokUsd: -1, outputPerMtokUsd: 1 } }, 'price.inputPerMtokUsd'],
        [{ region: '' }, 'region'],
        [{ weight: -1 }, 'weight'],
        [{ tenantId: 'Not A Tenant' }, 'tenantId'],
        [{ unexpected: true }, ''],
      ];
      for (const [overrides, param] of cases) {
        const res = await admin('POST', '/deployments', deployment(overrides));
        assert.equal(res.status, 400, JSON.stringify(overrides));
        const error = res.body.error as { code: string; param?: string; message: string };
        assert.equal(error.code, 'invalid_request');
        if (param) assert.equal(error.param, param, JSON.stringify(res.body));
        assert.ok(!error.message.includes('sk-secret'));
      }
    });

    it('creates a deployment (201) with defaults and lists it', async () => {
      const res = await admin('POST', '/deployments', deployment({ model: 'defaults-model', tenantId: 'tenant-z' }));
      assert.equal(res.status, 201);
      assert.match(res.body.id, /^dep_[0-9a-f]{20}$/);
      assert.equal(res.body.enabled, true);
      assert.equal(res.body.tenantId, 'tenant-z');
      assert.deepEqual(res.body.price, { inputPerMtokUsd: 0.15, outputPerMtokUsd: 0.6, cachedInputPerMtokUsd: 0.15 });
      const listed = await admin('GET', '/deployments?tenantId=tenant-z');
      assert.equal(listed.status, 200);
      assert.deepEqual(
        (listed.body as unknown as Array<{ id: string }>).map((d) => d.id),
        [res.body.id],
      );
      const badQuery = await admin('GET', '/deployments?tenantId=NOT%20VALID');
      assert.equal(badQuery.status, 400);
    });

    it('orders a plan: tenant-specific first, then priority asc, weight desc, id', async () => {
      const model = 'ordered-model';
      const lowPriorityHeavy = await create({ model, priority: 20, weight: 500 });
      const highPriorityLight = await create({ model, priority: 10, weight: 1 });
      const highPriorityHeavy = await create({ model, priority: 10, weight: 50 });
      const tieA = await create({ model, priority: 30, weight: 5 });
      const tieB = await create({ model, priority: 30, weight: 5 });
      const tenantOwn = await create({ model, priority: 99, weight: 1, tenantId: 'tenant-a' });
      const [firstTie, secondTie] = [tieA, tieB].sort();

      const res = await plan('tenant-a', model, ['eu-west-1']);
      assert.deepEqual(
        res.deployments.map((d) => d.id),
        [tenantOwn, highPriorityHeavy, highPriorityLight, lowPriorityHeavy, firstTie, secondTie],
      );
      assert.ok(res.configVersion > 0);
      const first = res.deployments[1];
      assert.equal(first.provider, 'openai');
      assert.equal(first.upstreamModel, 'gpt-4o-mini');
      assert.equal(first.baseUrl, 'https://api.openai.com/v1');
      assert.equal(first.credentialId, 'cred_0123456789abcdef0123');
      assert.equal(first.weight, 50);
      assert.deepEqual(first.price, { inputPerMtokUsd: 0.15, outputPerMtokUsd: 0.6, cachedInputPerMtokUsd: 0.15 });
    });

    it("never routes one tenant to another tenant's deployment", async () => {
      const model = 'scoped-model';
      const platform = await create({ model });
      const tenantA = await create({ model, tenantId: 'tenant-a' });
      assert.deepEqual(await ids('tenant-a', model, ['*']), [tenantA, platform]);
      assert.deepEqual(await ids('tenant-b', model, ['*']), [platform]);
      const onlyA = await create({ model: 'only-a-model', tenantId: 'tenant-a' });
      assert.deepEqual(await ids('tenant-b', 'only-a-model', ['*']), []);
      assert.deepEqual(await ids('tenant-a', 'only-a-model', ['*']), [onlyA]);
    });

    it('filters by region: listed regions, "*" for any, an empty list allows nothing', async () => {
      const model = 'regional-model';
      const eu = await create({ model, region: 'eu-west-1', priority: 1 });
      const us = await create({ model, region: 'us-east-1', priority: 2 });
      assert.deepEqual(await ids('tenant-a', model, ['eu-west-1']), [eu]);
      assert.deepEqual(await ids('tenant-a', model, ['us-east-1', 'ap-south-1']), [us]);
      assert.deepEqual(await ids('tenant-a', model, ['eu-west-1', 'us-east-1']), [eu, us]);
      assert.deepEqual(await ids('tenant-a', model, ['*']), [eu, us]);
      assert.deepEqual(await ids('tenant-a', model, []), []);
      assert.deepEqual(await ids('tenant-a', 'no-such-model', ['*']), []);
    });

    it('bumps config_version and drops cached plans on every write; DELETE only disables', async () => {
      const model = 'mutable-model';
      const a = await create({ model, priority: 1 });
      const b = await create({ model, priority: 2 });
      const before = await plan('tenant-a', model, ['*']);
      assert.deepEqual(before.deployments.map((d) => d.id), [a, b]);

      const patched = await admin('PATCH', `/deployments/${b}`, { priority: 0, price: { outputPerMtokUsd: 2 } });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.body.price, { inputPerMtokUsd: 0.15, outputPerMtokUsd: 2, cachedInputPerMtokUsd: 0.15 });
      const afterPatch = await plan('tenant-a', model, ['*']);
      assert.deepEqual(afterPatch.deployments.map((d) => d.id), [b, a]);
      assert.ok(afterPatch.configVersion > before.configVersion);

      const removed = await admin('DELETE', `/deployments/${b}`);
      assert.equal(removed.status, 200);
      assert.equal(removed.body.enabled, false);
      const afterDelete = await plan('tenant-a', model, ['*']);
      assert.deepEqual(afterDelete.deployments.map((d) => d.id), [a]);
      assert.ok(afterDelete.configVersion > afterPatch.configVersion);
      const kept = await admin('GET', `/deployments/${b}`);
      assert.equal(kept.status, 200);
      assert.equal(kept.body.enabled, false);

      assert.equal((await admin('PATCH', `/deployments/${b}`, {})).status, 400);
      assert.equal((await admin('PATCH', '/deployments/dep_missing', { enabled: true })).status, 404);
      assert.equal((await admin('PATCH', `/deployments/${b}`, { enabled: true })).status, 200);
      assert.deepEqual(await ids('tenant-a', model, ['*']), [b, a]);
    });

    it('keeps every routing config version, diffs two, and rolls back as a new version', async () => {
      const id = await create({ model: 'versioned-model', weight: 10, tenantId: 'tenant-v' });
      const afterCreate = (await plan('tenant-v', 'versioned-model', ['*'])).configVersion;
      assert.equal((await admin('PATCH', `/deployments/${id}`, { weight: 70 })).status, 200);
      const other = await create({ model: 'versioned-model', weight: 5 });
      const latest = (await plan('tenant-v', 'versioned-model', ['*'])).configVersion;
      assert.equal(latest, afterCreate + 2, 'every write is one new version');

      const listed = (await admin('GET', '/routing/versions?limit=3')).body as unknown as { versions: Array<{ version: number; change: string }> };
      assert.deepEqual(listed.versions.map((v) => [v.version, v.change]), [
        [latest, 'deployment.create'],
        [latest - 1, 'deployment.update'],
        [afterCreate, 'deployment.create'],
      ]);
      const diff = (await admin('GET', `/routing/versions/${afterCreate}/diff/${latest}`)).body as unknown as {
        added: Array<{ id: string }>; removed: unknown[]; changed: Array<{ id: string; fields: Record<string, { from: unknown; to: unknown }> }>;
      };
      assert.deepEqual(diff.added.map((d) => d.id), [other]);
      assert.deepEqual(diff.removed, []);
      assert.deepEqual(diff.changed, [{ id, fields: { weight: { from: 10, to: 70 } } }]);
      const scoped = (await admin('GET', `/routing/versions/${latest}?tenantId=tenant-v`)).body as unknown as { deployments: Array<{ id: string; tenantId: string | null }> };
      assert.ok(scoped.deployments.every((d) => d.tenantId === null || d.tenantId === 'tenant-v'));

      const rolled = await admin('POST', `/routing/versions/${afterCreate}/rollback`);
      assert.equal(rolled.status, 200, JSON.stringify(rolled.body));
      assert.equal(rolled.body.version, latest + 1);
      assert.equal(rolled.body.change, `rollback:${afterCreate}`);
      assert.equal((await admin('GET', `/deployments/${id}`)).body.weight, 10);
      assert.equal((await admin('GET', `/deployments/${other}`)).body.enabled, false, 'created after the target: disabled, not deleted');
      const served = await plan('tenant-v', 'versioned-model', ['*']);
      assert.deepEqual(served.deployments.map((d) => d.id), [id]);
      assert.equal(served.configVersion, latest + 1);
      // The rolled-back-to version itself is unchanged and still there.
      assert.equal(((await admin('GET', `/routing/versions/${afterCreate}`)).body as unknown as { deployments: unknown[] }).deployments.length > 0, true);

      const missing = await admin('GET', '/routing/versions/999999');
      assert.equal(missing.status, 404);
      const bad = await admin('GET', '/routing/versions/abc/diff/1');
      assert.equal(bad.status, 400);
      assert.equal((bad.body.error as { param: string }).param, 'from');
    });

    it('answers a malformed Plan with INVALID_ARGUMENT', async () => {
      await assert.rejects(plan('', 'support-chat', ['*']), (err: unknown) => err instanceof GrpcCallError && err.grpcCode === status.INVALID_ARGUMENT);
    });
  });

  describe('two replicas on one database', { skip }, () => {
    it("drop each other's cached plans through config-change events", async () => {
      const db = await throwawayDatabase();
      const bus = new MemoryEventBus({ publisher: { lingerMs: 0 } });
      const config = async () => ({
        ROUTING_HTTP_HOST: '127.0.0.1',
        ROUTING_HTTP_PORT: 0,
        ROUTING_GRPC_URL: `127.0.0.1:${await freePort()}`,
        ROUTING_DATABASE_URL: db.url,
        ASC_ADMIN_TOKEN: ADMIN_TOKEN,
        KAFKA_BROKERS: [],
        KAFKA_TOPIC_PREFIX: '',
        ...testPki().config('routing'),
      });
      const options = { collectProcessMetrics: false, logger: createLogger('warn'), events: bus, configChanges: bus };
      const [configA, configB] = [await config(), await config()];
      const a = await startRoutingService(configA, options);
      const b = await startRoutingService(configB, options);
      const grpcB = createGrpcClient(routingV1.RoutingServiceService, configB.ROUTING_GRPC_URL, { security: testPki().security('ingress'), service: 'routing' });
      try {
        const planB = () => grpcB.client.plan({ tenantId: 'tenant-a', model: 'replica-model', allowedRegions: ['*'], operation: 'chat' });
        const create = (priority: number) =>
          a.deployments.create({
            tenantId: null,
            model: 'replica-model',
            provider: 'openai',
            upstreamModel: 'gpt-4o-mini',
            region: 'eu-west-1',
            baseUrl: 'https://api.openai.com/v1',
            credentialId: 'cred_x',
            price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2 },
            priority,
          });
        const first = await create(10);
        assert.deepEqual((await planB()).deployments.map((d) => d.id), [first.id]); // B now caches this plan
        const second = await create(1); // written through A only
        await eventually(async () => assert.deepEqual((await planB()).deployments.map((d) => d.id), [second.id, first.id]), 5_000, 50);
      } finally {
        grpcB.close();
        await a.close();
        await b.close();
        await bus.close();
        await db.drop();
      }
    });
  });

  describe('two replicas as separate Kafka clients (scale-out, docs/reliability.md)', { skip: skipKafka }, () => {
    it('converge on every change written through either replica: create, re-prioritise, disable', async () => {
      const db = await throwawayDatabase();
      const prefix = `it-routing-${Date.now().toString(36)}.`;
      // One bus per replica, as two pods have: changes travel through the real topic.
      const buses = [0, 1].map(
        (i) => new KafkaEventBus({ brokers: infra.kafkaBrokers, topicPrefix: prefix, clientId: `routing-replica-${i}`, logger: silentEventBusLogger, publisher: { lingerMs: 0 } }),
      );
      await buses[0].ensureTopics();
      const config = async () => ({
        ROUTING_HTTP_HOST: '127.0.0.1',
        ROUTING_HTTP_PORT: 0,
        ROUTING_GRPC_URL: `127.0.0.1:${await freePort()}`,
        ROUTING_DATABASE_URL: db.url,
        ASC_ADMIN_TOKEN: ADMIN_TOKEN,
        KAFKA_BROKERS: infra.kafkaBrokers,
        KAFKA_TOPIC_PREFIX: prefix,
        ...testPki().config('routing'),
      });
      const [configA, configB] = [await config(), await config()];
      const common = { collectProcessMetrics: false, logger: createLogger('warn') };
      const a = await startRoutingService(configA, { ...common, events: buses[0], configChanges: buses[0] });
      const b = await startRoutingService(configB, { ...common, events: buses[1], configChanges: buses[1] });
      const clients = [configA, configB].map((c) => createGrpcClient(routingV1.RoutingServiceService, c.ROUTING_GRPC_URL, { security: testPki().security('ingress'), service: 'routing' }));
      const plans = () =>
        Promise.all(clients.map(async (c) => (await c.client.plan({ tenantId: 'tenant-a', model: 'scale-model', allowedRegions: ['*'], operation: 'chat' })).deployments.map((d) => d.id)));
      const create = (via: typeof a, priority: number) =>
        via.deployments.create({
          tenantId: null,
          model: 'scale-model',
          provider: 'openai',
          upstreamModel: 'gpt-4o-mini',
          region: 'eu-west-1',
          baseUrl: 'https://api.openai.com/v1',
          credentialId: 'cred_x',
          price: { inputPerMtokUsd: 1, outputPerMtokUsd: 2 },
          priority,
        });
      const converged = async (expected: string[]) => {
        const t0 = Date.now();
        await eventually(async () => assert.deepEqual(await plans(), [expected, expected]), 20_000, 25);
        return Date.now() - t0;
      };
      try {
        const first = await create(a, 10);
        await converged([first.id]); // both replicas now cache this plan
        // A consumer group joins a few seconds after start; until both replicas listen, the
        // 30 s backstop would be what converges them. Wait for a change to travel both ways.
        await eventually(async () => {
          const probe = await create(b, 0);
          try {
            await eventually(async () => assert.deepEqual(await plans(), [[probe.id, first.id], [probe.id, first.id]]), 1_500, 25);
          } finally {
            await a.deployments.disable(probe.id);
          }
          await eventually(async () => assert.deepEqual(await plans(), [[first.id], [first.id]]), 1_500, 25);
        }, 30_000, 0);
        const timings: number[] = [];
        const second = await create(b, 1); // written through B, cached by A
        timings.push(await converged([second.id, first.id]));
        await a.deployments.update(first.id, { priority: 0 }); // through A, cached by B
        timings.push(await converged([first.id, second.id]));
        await b.deployments.disable(first.id);
        timings.push(await converged([second.id]));
        console.log(`[drill] two routing replicas over Kafka converged in ${timings.join(' / ')} ms (create / re-prioritise / disable)`);
      } finally {
        for (const c of clients) c.close();
        await a.close();
        await b.close();
        await Promise.all(buses.map((x) => x.close()));
        await db.drop();
      }
    });
  });
});
