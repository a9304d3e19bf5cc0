import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_IDENTITIES, spiffeIdOf } from './service-identity';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  /** The CA certificate that signed every peer this identity should trust. */
  caFile: string;
}

/**
 * A local certificate authority and one certificate per service identity, made with the
 * `openssl` command line (Debian's, or any OpenSSL ≥ 1.1.1 / LibreSSL ≥ 3.1). Used by the
 * embedded suite (first start), the production-suite tests, CI and local production; a
 * Kubernetes deployment takes its certificates from cert-manager or a mesh instead.
 *
 * Identity is the URI SAN `spiffe://asc/<service>`; the DNS SAN `<service>.asc.internal`,
 * `localhost` and 127.0.0.1 are added so ordinary TLS tooling can talk to the ports too.
 * Existing files are kept (idempotent), so a restart reuses the same CA.
 */
export function ensureLocalCertificates(dir: string, identities: readonly string[] = SERVICE_IDENTITIES, options: { caName?: string } = {}): Record<string, CertificateFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  if (!existsSync(caFile) || !existsSync(caKey)) {
    openssl([
      'req', '-x509', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-keyout', caKey, '-out', caFile, '-days', '3650', '-subj', `/CN=${options.caName ?? 'ASC local CA'}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    chmodSync(caKey, 0o600);
  }
  const out: Record<string, CertificateFiles> = {};
  for (const identity of identities) {
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(identity)) throw new Error(`invalid service identity ${JSON.stringify(identity)}`);
    const certFile = join(dir, `${identity}.crt`);
    const keyFile = join(dir, `${identity}.key`);
    if (!existsSync(certFile) || !existsSync(keyFile)) {
      const csr = join(dir, `${identity}.csr`);
      const ext = join(dir, `${identity}.ext`);
      writeFileSync(
        ext,
        [
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature,keyEncipherment',
          'extendedKeyUsage=serverAuth,clientAuth',
          `subjectAltName=URI:${spiffeIdOf(identity)},DNS:${identity}.asc.internal,DNS:localhost,IP:127.0.0.1`,
          '',
        ].join('\n'),
      );
      openssl(['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${identity}`]);
      chmodSync(keyFile, 0o600);
      openssl([
        'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', `0x${randomBytes(16).toString('hex')}`,
        '-days', '825', '-sha256', '-extfile', ext, '-out', certFile,
      ]);
      rmSync(csr, { force: true });
      rmSync(ext, { force: true });
    }
    out[identity] = { certFile, keyFile, caFile };
  }
  return out;
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? 'openssl is required to make the local CA (apt-get install -y openssl)' : `openssl ${args[0]} failed: ${stderr ?? String(err)}`);
  }
}
