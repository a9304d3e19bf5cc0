export { databaseProbe, openServiceDatabase, withServiceDatabase } from './data-source.factory';
export type { ServiceDatabaseOptions } from './data-source.factory';
export { startEmbeddedPostgres } from './embedded-postgres';
export type { EmbeddedPostgres } from './embedded-postgres';
