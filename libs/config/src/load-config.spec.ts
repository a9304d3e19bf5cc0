import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ConfigError, env, loadConfig, sensitive } from './load-config';

describe('loadConfig', () => {
  const shape = {
    PORT: env.port(),
    KAFKA_BROKERS: env.list('127.0.0.1:9092'),
    KEK: sensitive(env.str().refine((v) => v.length === 64, 'must be 64 hex characters')),
  };

  it('returns typed values and defaults', () => {
    const cfg = loadConfig(shape, { PORT: '8080', KEK: 'a'.repeat(64) });
    assert.equal(cfg.PORT, 8080);
    assert.deepEqual(cfg.KAFKA_BROKERS, ['127.0.0.1:9092']);
  });

  it('names every missing or malformed variable', () => {
    assert.throws(
      () => loadConfig(shape, { PORT: 'eighty' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.includes('PORT="eighty"') &&
        err.message.includes('KEK is required but not set'),
    );
  });

  it('never echoes the value of a sensitive variable', () => {
    assert.throws(
      () => loadConfig(shape, { PORT: '1', KEK: 'top-secret-value' }),
      (err: unknown) =>
        err instanceof ConfigError && err.message.includes('KEK=<redacted>') && !err.message.includes('top-secret'),
    );
  });
});
