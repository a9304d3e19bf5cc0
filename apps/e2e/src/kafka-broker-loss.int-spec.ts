import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  createEvent,
  EVENT_GATEWAY_REQUEST_COMPLETED,
  KafkaEventBus,
  silentEventBusLogger,
  TOPIC_GATEWAY_REQUEST_V1,
  type RequestCompletedV1,
} from '@asc/events';
import { eventually, repoRoot, tcpReachable } from '@asc/testing';
import { Kafka, logLevel } from 'kafkajs';

/**
 * Scale-out drill (docs/reliability.md, "Scale-out"): the 3-broker KRaft cluster of
 * `tools/infra/kafka.sh cluster` (ports 19092-19094; topics with replication factor 3,
 * min.insync.replicas 2; ASC's producer is idempotent with acks=all). Under steady load one
 * broker — the leader of partition 0 — is SIGKILLed and later restarted: no acknowledged event
 * may be lost, and the stall and the time until the broker is back in sync are measured.
 *
 * Runs when the cluster is up (tools/drills/kafka-broker-loss.sh starts it, runs this file and
 * stops it); skipped otherwise, because CI's infrastructure is the single shared broker.
 */

const BROKERS = ['127.0.0.1:19092', '127.0.0.1:19093', '127.0.0.1:19094'];
const EVENTS = 4_000;
const RATE_PER_S = 200;
const KILL_AT = 800;
const RESTART_AT = 1_800;
const run = promisify(execFile);
const kafkaSh = (...args: string[]) => run('bash', [join(repoRoot, 'tools/infra/kafka.sh'), 'cluster', ...args], { timeout: 180_000 });

function payload(tenantId: string, seq: number): RequestCompletedV1 {
  return {
    requestId: `${tenantId}:${seq}`, tenantId, appId: 'app_drill', keyId: 'key_drill', api: 'openai.chat.completions', stream: false,
    requestedModel: 'gpt-4o-mini', servedModel: 'gpt-4o-mini', provider: 'openai', deploymentId: 'dep_drill', region: 'eu-west-1',
    credentialId: 'cred_drill', credentialVersion: 1, policyId: 'pol_drill', policyVersion: 1, decision: 'allow', reasonCode: '',
    status: 'ok', httpStatus: 200, inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0, usageEstimated: false,
    costUsd: 0.00001, latencyMs: 12, ttftMs: 0, startedAtMs: Date.now(),
  } as RequestCompletedV1;
}

describe('3-broker Kafka loses a broker under load', async () => {
  const up = (await Promise.all(BROKERS.map((b) => tcpReachable(b)))).every(Boolean);
  const skip = up ? undefined : 'the 3-broker cluster is not running (tools/drills/kafka-broker-loss.sh runs this drill)';

  it(`${EVENTS} events at ${RATE_PER_S}/s, the leader of partition 0 killed and restarted: 0 lost`, { skip, timeout: 240_000 }, async () => {
    const prefix = `drill-${randomBytes(4).toString('hex')}.`;
    const bus = new KafkaEventBus({
      brokers: BROKERS,
      topicPrefix: prefix,
      clientId: 'drill-broker-loss',
      logger: silentEventBusLogger,
      publisher: { lingerMs: 20 },
      topics: { partitions: 6, replicationFactor: 3 },
    });
    await bus.ensureTopics();
    const topic = bus.topicName(TOPIC_GATEWAY_REQUEST_V1);
    const admin = new Kafka({ brokers: BROKERS, clientId: 'drill-admin', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const partitions = async () => (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions;
    // Right after creation the metadata may not have reached every broker yet.
    const leader0 = await eventually(async () => {
      const all = await partitions();
      assert.equal(all.length, 6);
      assert.ok(all.every((p) => p.isr.length === 3));
      return all.find((p) => p.partitionId === 0)!.leader;
    }, 30_000, 250);
    const minIsr = (await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic, configNames: ['min.insync.replicas'] }] }))
      .resources[0].configEntries[0].configValue;
    assert.equal(minIsr, '2', 'topics are written with min.insync.replicas 2');
    assert.ok((await partitions()).every((p) => p.replicas.length === 3), 'replication factor 3');

    const received = new Map<string, number>();
    const sub = await bus.subscribe({
      groupId: `${prefix}group`,
      topics: [TOPIC_GATEWAY_REQUEST_V1],
      handleBatch: async (events) => {
        for (const e of events) received.set(e.id, (received.get(e.id) ?? 0) + 1);
      },
    });

    // Longest time the producer acknowledged nothing while events were waiting: the write stall.
    let lastSent = 0;
    let lastProgress = Date.now();
    let longestStallMs = 0;
    const sampler = setInterval(() => {
      const s = bus.stats();
      if (s.sent > lastSent || s.buffered === 0) {
        lastSent = s.sent;
        lastProgress = Date.now();
      }
      longestStallMs = Math.max(longestStallMs, Date.now() - lastProgress);
    }, 50);

    const ids: string[] = [];
    let killedAt = 0;
    let restartedAt = 0;
    let restart: Promise<unknown> = Promise.resolve();
    const t0 = Date.now();
    try {
      for (let seq = 0; seq < EVENTS; seq++) {
        const tenantId = `tenant_${seq % 24}`;
        const event = createEvent(EVENT_GATEWAY_REQUEST_COMPLETED, { tenantId, source: 'asc/drill' }, payload(tenantId, seq));
        ids.push(event.id);
        bus.publish(event);
        if (seq === KILL_AT) {
          await kafkaSh('kill', String(leader0));
          killedAt = Date.now();
        }
        if (seq === RESTART_AT) {
          restartedAt = Date.now();
          restart = kafkaSh('start', String(leader0));
        }
        const due = t0 + ((seq + 1) * 1000) / RATE_PER_S;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      }
      await bus.flush({ timeoutMs: 60_000 });
      const flushedAt = Date.now();
      await restart;
      // Back in sync: the restarted broker is in the ISR of every partition again.
      await eventually(async () => assert.ok((await partitions()).every((p) => p.isr.length === 3)), 120_000, 250);
      const inSyncAt = Date.now();
      await eventually(() => assert.equal(received.size, EVENTS), 60_000, 200);
      const stats = bus.stats();
      const duplicates = [...received.values()].filter((n) => n > 1).length;
      console.log(
        `[drill] broker loss: killed broker ${leader0} (leader of partition 0) at ${killedAt - t0} ms; longest producer stall ${longestStallMs} ms; ` +
          `restarted at ${restartedAt - t0} ms, back in the ISR of every partition ${inSyncAt - restartedAt} ms after the restart; ` +
          `all ${EVENTS} acknowledged ${flushedAt - t0} ms after the first publish; sent ${stats.sent}, failed ${stats.failed}, retries ${stats.retries}; ` +
          `consumer received ${received.size} distinct (${duplicates} redelivered)`,
      );
      assert.equal(stats.failed, 0, 'no event dropped by the producer');
      assert.deepEqual(ids.filter((id) => !received.has(id)), [], 'every published event was consumed');
    } finally {
      clearInterval(sampler);
      await sub.stop();
      await admin.disconnect();
      await bus.close();
      await restart.catch(() => undefined);
    }
  });
});
