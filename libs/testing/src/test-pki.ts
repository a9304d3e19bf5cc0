import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateFiles, ensureLocalCertificates, GrpcSecurity, SERVICE_IDENTITIES } from '@asc/service-kit';

export interface TestPki {
  readonly dir: string;
  readonly files: Record<string, CertificateFiles>;
  /** `<PREFIX>_TLS_CERT_FILE`, `_KEY_FILE`, `_CA_FILE` for one identity, as a service's environment. */
  env(identity: string, prefix?: string): Record<string, string>;
  /** The same, already loaded (for start functions that take a config object). */
  config(identity: string, prefix?: string): { ASC_GRPC_INSECURE: boolean; ASC_TLS_RELOAD_MS: number } & Record<string, string | number | boolean>;
  security(identity: string): GrpcSecurity;
}

const made = new Map<string, TestPki>();

/**
 * A local CA (made with tools' openssl path, the same code as the embedded suite and CI)
 * and a certificate for every service identity, in a temp dir removed at process exit.
 * `name` gives an independent CA (e.g. "other" for "a certificate from another CA").
 */
export function testPki(name = 'asc'): TestPki {
  const existing = made.get(name);
  if (existing) return existing;
  const dir = mkdtempSync(join(tmpdir(), `asc-pki-${name}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const files = ensureLocalCertificates(dir, SERVICE_IDENTITIES, { caName: `ASC test CA ${name}` });
  const env = (identity: string, prefix = identity.toUpperCase()) => {
    const f = files[identity];
    if (!f) throw new Error(`no test certificate for ${identity}`);
    return { [`${prefix}_TLS_CERT_FILE`]: f.certFile, [`${prefix}_TLS_KEY_FILE`]: f.keyFile, [`${prefix}_TLS_CA_FILE`]: f.caFile };
  };
  const pki: TestPki = {
    dir,
    files,
    env,
    config: (identity, prefix) => ({ ...env(identity, prefix), ASC_GRPC_INSECURE: false, ASC_TLS_RELOAD_MS: 30_000 }),
    security: (identity) => {
      const f = files[identity];
      if (!f) throw new Error(`no test certificate for ${identity}`);
      return { mode: 'mtls', identity, ...f, reloadMs: 30_000 };
    },
  };
  made.set(name, pki);
  return pki;
}
