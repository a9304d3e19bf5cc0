import { DomainError } from '@asc/tenancy';

export class PolicyError extends DomainError {}
