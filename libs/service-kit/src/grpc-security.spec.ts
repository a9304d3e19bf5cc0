import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { PeerCertificate } from 'node:tls';
import { ConfigError, loadConfig } from '@asc/config';
import { grpcSecurityConfigShape, grpcSecurityFromConfig } from './grpc-security';
import { identityOfCertificate } from './service-identity';

const cert = (subjectaltname: string) => ({ subjectaltname }) as PeerCertificate;

describe('service identity from a certificate', () => {
  it('is the service named by the spiffe://asc/ URI SAN', () => {
    assert.equal(identityOfCertificate(cert('URI:spiffe://asc/ingress, DNS:ingress.asc.internal, DNS:localhost')), 'ingress');
  });

  it('is nothing for another trust domain, a DNS name alone, or two identities', () => {
    assert.equal(identityOfCertificate(cert('URI:spiffe://other/ingress')), undefined);
    assert.equal(identityOfCertificate(cert('DNS:ingress.asc.internal')), undefined);
    assert.equal(identityOfCertificate(cert('URI:spiffe://asc/ingress, URI:spiffe://asc/admin')), undefined);
    assert.equal(identityOfCertificate(undefined), undefined);
  });
});

describe('gRPC security from the environment', () => {
  const shape = grpcSecurityConfigShape('POLICY');

  it('requires the three certificate paths, naming each missing variable', () => {
    const config = loadConfig(shape, { POLICY_TLS_CERT_FILE: '/c.crt' });
    assert.throws(
      () => grpcSecurityFromConfig('policy', 'POLICY', config),
      (err: unknown) => err instanceof ConfigError && /POLICY_TLS_KEY_FILE/.test(err.message) && /POLICY_TLS_CA_FILE/.test(err.message) && !/POLICY_TLS_CERT_FILE/.test(err.message),
    );
  });

  it('is mutual TLS with the configured files', () => {
    const config = loadConfig(shape, { POLICY_TLS_CERT_FILE: '/c.crt', POLICY_TLS_KEY_FILE: '/c.key', POLICY_TLS_CA_FILE: '/ca.crt', ASC_TLS_RELOAD_MS: '5000' });
    assert.deepEqual(grpcSecurityFromConfig('policy', 'POLICY', config), {
      mode: 'mtls',
      identity: 'policy',
      certFile: '/c.crt',
      keyFile: '/c.key',
      caFile: '/ca.crt',
      reloadMs: 5000,
    });
  });

  it('is plaintext only with the explicit dev flag', () => {
    assert.equal(grpcSecurityFromConfig('policy', 'POLICY', loadConfig(shape, { ASC_GRPC_INSECURE: '1' })).mode, 'insecure');
  });
});
