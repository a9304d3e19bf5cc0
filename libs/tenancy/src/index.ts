export {
  API_KEY_PREFIX,
  apiKeyDisplayPrefix,
  estimateKeyEntropyBits,
  generateApiKey,
  hashApiKey,
  IMPORTED_KEY_RULE,
  isStrongApiKey,
  isWellFormedApiKey,
  MIN_IMPORTED_KEY_BITS,
} from './api-key';
export { DomainError } from './domain-error';
