/**
 * Base of every domain error: a stable machine-readable `code` and the HTTP status the
 * edge maps it to. Each domain subclasses it (PolicyError, SecretsError…).
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
    readonly param?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
