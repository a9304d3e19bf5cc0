import { DomainError } from '@asc/tenancy';

export class RoutingError extends DomainError {}
