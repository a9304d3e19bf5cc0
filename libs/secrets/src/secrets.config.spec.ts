import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError } from '@asc/config';
import { loadSecretsConfig } from './secrets.config';

describe('secrets config', () => {
  const base = { SECRETS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/asc', ASC_ADMIN_TOKEN: 'admin' };
  const kek = randomBytes(32).toString('base64');

  it('takes defaults and exactly one KEK source', () => {
    const fromFile = loadSecretsConfig({ ...base, SECRETS_KEK_FILE: '/tmp/asc/kek.key' });
    assert.equal(fromFile.SECRETS_HTTP_PORT, 8084);
    assert.equal(fromFile.SECRETS_GRPC_URL, '127.0.0.1:50054');
    assert.equal(fromFile.SECRETS_LEASE_TTL_MS, 300_000);
    assert.equal(loadSecretsConfig({ ...base, SECRETS_KEK: kek }).SECRETS_KEK, kek);
  });

  it('refuses both or neither KEK source', () => {
    assert.throws(() => loadSecretsConfig(base), ConfigError);
    assert.throws(
      () => loadSecretsConfig({ ...base, SECRETS_KEK_FILE: '/tmp/kek', SECRETS_KEK: kek }),
      (err: unknown) => err instanceof ConfigError && !err.message.includes(kek),
    );
  });

  it('never echoes a malformed SECRETS_KEK', () => {
    assert.throws(
      () => loadSecretsConfig({ ...base, SECRETS_KEK: 'my-precious-kek' }),
      (err: unknown) => err instanceof ConfigError && err.message.includes('SECRETS_KEK=<redacted>') && !err.message.includes('precious'),
    );
  });
});
