import { resolve } from 'node:path';
import { ensureLocalCertificates, SERVICE_IDENTITIES } from '@asc/service-kit';

/**
 * Makes a local CA and one certificate per service identity (URI SAN spiffe://asc/<service>)
 * for local production and CI; the embedded suite makes its own on first start.
 *
 *   tools/certs/make-local-ca.sh [dir] [identity...]      (default dir .asc/certs)
 *
 * Prints, per identity, the variables a service reads (<SERVICE>_TLS_CERT_FILE, _KEY_FILE, _CA_FILE).
 */
function main(): void {
  const [dirArg, ...identities] = process.argv.slice(2);
  if (dirArg === '--help' || dirArg === '-h') {
    console.log('usage: tools/certs/make-local-ca.sh [dir=.asc/certs] [identity...] (default: every service and admin)');
    return;
  }
  const dir = resolve(dirArg ?? '.asc/certs');
  const files = ensureLocalCertificates(dir, identities.length ? identities : SERVICE_IDENTITIES);
  for (const [identity, f] of Object.entries(files)) {
    const p = identity.toUpperCase();
    console.log(`# ${identity} (spiffe://asc/${identity})`);
    console.log(`${p}_TLS_CERT_FILE=${f.certFile}\n${p}_TLS_KEY_FILE=${f.keyFile}\n${p}_TLS_CA_FILE=${f.caFile}`);
  }
}

main();
