export { loadPolicyConfig, policyConfigShape } from './policy.config';
export type { PolicyConfig } from './policy.config';
export { PolicyError } from './policy.error';
export { startPolicyService } from './start-policy';
export type { RunningPolicyService } from './start-policy';
export { TenancyService } from './tenancy.service';
