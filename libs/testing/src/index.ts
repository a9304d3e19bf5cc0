export { eventually } from './eventually';
export { infra, infraRequired, missingInfra, tcpReachable } from './infra';
