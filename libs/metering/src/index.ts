export { loadMeteringConfig, meteringConfigShape } from './metering.config';
export type { MeteringConfig } from './metering.config';
export { startMeteringService } from './start-metering';
export type { MeteringDependencies } from './start-metering';
export { recordRequestEvents, toRequestRow } from './usage-recorder';
