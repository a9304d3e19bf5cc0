export { ConfigError, env, loadConfig, sensitive } from './load-config';
