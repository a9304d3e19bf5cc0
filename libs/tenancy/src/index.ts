export { API_KEY_PREFIX, apiKeyDisplayPrefix, generateApiKey, hashApiKey, isWellFormedApiKey } from './api-key';
export { DomainError } from './domain-error';
