import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { publishAdminChange, redactSecrets } from './admin-change';
import { AnyEventEnvelope } from './envelope';
import { EventPublisher } from './event-bus.port';
import { EVENT_ADMIN_CHANGE_RECORDED, TOPIC_ADMIN_CHANGE_V1, topicOf } from './event-map';

describe('redactSecrets', () => {
  it('replaces secret-named fields at any depth and keeps ids and hashes of other fields', () => {
    const out = redactSecrets({
      id: 'key_1',
      keyId: 'key_1',
      key: 'asc_live_secret',
      nested: { secret: 'sk-1', apiKey: 'sk-2', password: 'p', authorization: 'Bearer x', list: [{ token: 't' }] },
      maxTokens: 100,
      createdAt: new Date(Date.UTC(2026, 0, 1)),
      missing: undefined,
    });
    assert.deepEqual(out, {
      id: 'key_1',
      keyId: 'key_1',
      key: '[redacted]',
      nested: { secret: '[redacted]', apiKey: '[redacted]', password: '[redacted]', authorization: '[redacted]', list: [{ token: '[redacted]' }] },
      maxTokens: 100,
      createdAt: '2026-01-01T00:00:00.000Z',
    });
  });
});

describe('publishAdminChange', () => {
  it('publishes one admin change on its topic with actor operator by default and nothing secret', () => {
    const sent: AnyEventEnvelope[] = [];
    const publisher: EventPublisher = { publish: (e) => void sent.push(e), flush: async () => undefined, close: async () => undefined, stats: () => ({ buffered: 0, sent: 0, failed: 0, retries: 0 }) };
    publishAdminChange(publisher, 'asc-secrets', { tenantId: '*', action: 'credential.rotate', targetType: 'credential', targetId: 'cred_1', requestId: 'req-9', after: { id: 'cred_1', secret: 'sk-live' } });
    assert.equal(sent.length, 1);
    assert.equal(topicOf(sent[0].type), TOPIC_ADMIN_CHANGE_V1);
    assert.equal(sent[0].type, EVENT_ADMIN_CHANGE_RECORDED);
    assert.equal(sent[0].tenantId, '*');
    assert.match(JSON.stringify(sent[0]), /"actor":"operator"/);
    assert.doesNotMatch(JSON.stringify(sent[0]), /sk-live/);
    publishAdminChange(null, 'asc-secrets', { tenantId: '*', action: 'x', targetType: 'x', targetId: 'x' });
  });
});
