import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { fetchTopicOffsets } from './kafka-event-bus.adapter';

/** A broker port that answers each admin's offset request from a script: an error type or the offsets. */
function scriptedKafka(answers: Array<string | 'offsets'>) {
  const admins = { created: 0, disconnected: 0 };
  const kafka = {
    admin: () => {
      admins.created++;
      return {
        connect: async () => undefined,
        disconnect: async () => {
          admins.disconnected++;
        },
        fetchTopicOffsets: async (topic: string) => {
          const answer = answers.shift() ?? 'offsets';
          if (answer !== 'offsets') throw Object.assign(new Error(`${answer} on ${topic}`), { type: answer });
          return [{ partition: 0, offset: '7', high: '7', low: '2' }];
        },
      };
    },
  } as unknown as Pick<Kafka, 'admin'>;
  return { kafka, admins };
}

describe('fetchTopicOffsets', () => {
  it('waits out a partition leader that is still settling on a topic created a moment ago', async () => {
    const { kafka, admins } = scriptedKafka(['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'offsets']);
    const offsets = await fetchTopicOffsets(kafka, ['asc.gateway.request.v1'], { backoff: { initialMs: 1, maxMs: 2 } });
    assert.deepEqual(offsets.get('asc.gateway.request.v1'), [{ partition: 0, offset: '7', high: '7', low: '2' }]);
    assert.equal(admins.created, 3, 'each try starts from fresh metadata');
    assert.equal(admins.disconnected, 3, 'no admin connection is left open');
  });

  it('throws any other error at once', async () => {
    const { kafka, admins } = scriptedKafka(['TOPIC_AUTHORIZATION_FAILED']);
    await assert.rejects(fetchTopicOffsets(kafka, ['t'], { backoff: { initialMs: 1, maxMs: 2 } }), /TOPIC_AUTHORIZATION_FAILED/);
    assert.equal(admins.created, 1);
  });

  it('gives up with the broker’s answer once the deadline has passed', async () => {
    const { kafka, admins } = scriptedKafka(Array(1000).fill('NOT_LEADER_FOR_PARTITION'));
    const started = Date.now();
    await assert.rejects(fetchTopicOffsets(kafka, ['t'], { deadlineMs: 200, backoff: { initialMs: 20, maxMs: 40 } }), /NOT_LEADER_FOR_PARTITION/);
    assert.ok(Date.now() - started < 1_000);
    assert.ok(admins.created >= 3 && admins.created === admins.disconnected);
  });
});
