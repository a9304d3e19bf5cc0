import { DomainError } from '@asc/tenancy';

/** Errors of the secrets domain. Messages never carry a secret, a key or a plaintext. */
export class SecretsError extends DomainError {}
