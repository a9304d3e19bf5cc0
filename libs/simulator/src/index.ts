export { startSimulator, keyFingerprint, SIM_HEADERS } from './simulator.server';
export { tokenize, countTokens, MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS, IMAGE_TOKENS } from './tokenizer.util';
export { PromptMeter, replyText } from './reply.generator';
export { embedText } from './embedding.generator';
export { SimulatorError } from './simulator.error';
export type { SimulatorErrorCode } from './simulator.error';
export type {
  FaultMode,
  ProviderId,
  RouteId,
  SimulatorHandle,
  SimulatorOptions,
  SimulatorRequestRecord,
  SimulatorRuntimeOptions,
  SimulatorStats,
} from './simulator.types';
