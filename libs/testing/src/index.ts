export { eventually } from './eventually';
export { infra, infraRequired, missingInfra, tcpReachable } from './infra';
export { repoRoot, startNodeProcess, waitForReady } from './processes';
export type { NodeProcess } from './processes';
export { throwawayDatabase } from './throwaway-database';
export type { ThrowawayDatabase } from './throwaway-database';
export { PRODUCTION_SERVICES, startProductionSuite } from './production-suite';
export type { ProductionService, ProductionSuite } from './production-suite';
