export { AdminApiError, AdminClient } from './admin-client';
export type { AdminEndpoints, DeploymentInput } from './admin-client';
