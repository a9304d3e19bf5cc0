import { loadRoutingConfig, startRoutingService } from '@asc/routing';
import { runMain } from '@asc/service-kit';

runMain('routing', () => startRoutingService(loadRoutingConfig()));
