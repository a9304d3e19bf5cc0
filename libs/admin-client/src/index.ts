export { AdminApiError, AdminClient } from './admin-client';
export type { AdminEndpoints, BudgetStatus, DeploymentInput } from './admin-client';
