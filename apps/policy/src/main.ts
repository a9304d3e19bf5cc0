import { loadPolicyConfig, startPolicyService } from '@asc/policy';
import { runMain } from '@asc/service-kit';

runMain('policy', () => startPolicyService(loadPolicyConfig()));
