import type { PeerCertificate } from 'node:tls';

/**
 * Service identity is the URI SAN of a peer's certificate, `spiffe://asc/<service>` (the
 * SPIFFE ID shape, so a mesh or cert-manager's csi-driver-spiffe can issue them).
 */
export const TRUST_DOMAIN = 'asc';
export const SERVICE_IDENTITIES = ['ingress', 'policy', 'routing', 'secrets', 'metering', 'audit', 'admin'] as const;
export type ServiceIdentity = (typeof SERVICE_IDENTITIES)[number];

export function spiffeIdOf(service: string): string {
  return `spiffe://${TRUST_DOMAIN}/${service}`;
}

/** The service named by a certificate's `spiffe://asc/<service>` URI SAN, or undefined. */
export function identityOfCertificate(cert: PeerCertificate | undefined | null): string | undefined {
  const sans = cert?.subjectaltname;
  if (!sans) return undefined;
  const prefix = `URI:${spiffeIdOf('')}`;
  const ids = sans
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith(prefix))
    .map((s) => s.slice(prefix.length));
  // Exactly one identity per certificate: two would make "who called" ambiguous.
  return ids.length === 1 && /^[a-z][a-z0-9-]*$/.test(ids[0]) ? ids[0] : undefined;
}
