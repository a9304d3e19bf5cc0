import { Client } from 'pg';
import { DataSource, EntitySchema, MixedList } from 'typeorm';

export interface ServiceDatabaseOptions {
  /** postgres://user[:password]@host:port/database */
  url: string;
  /** The service's own schema, e.g. "policy". */
  schema: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
  poolMax?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * Opens a service's TypeORM DataSource on its own schema and applies its migrations.
 * `synchronize` is never used: the schema only changes through reviewed migrations.
 */
export async function openServiceDatabase(options: ServiceDatabaseOptions): Promise<DataSource> {
  if (!SCHEMA_NAME.test(options.schema)) throw new Error(`invalid schema name ${options.schema}`);
  // The migrations table lives in the schema, so the schema must exist before TypeORM starts.
  const client = new Client({ connectionString: options.url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`);
  } finally {
    await client.end();
  }
  const dataSource = new DataSource({
    type: 'postgres',
    url: options.url,
    schema: options.schema,
    entities: options.entities,
    migrations: options.migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['error'],
    extra: { max: options.poolMax ?? 10, application_name: `asc-${options.schema}` },
  });
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  return dataSource;
}

/** A readiness probe for a DataSource. */
export function databaseProbe(dataSource: DataSource): () => Promise<boolean> {
  return async () => {
    await dataSource.query('SELECT 1');
    return true;
  };
}

/**
 * Opens a service's database, starts the service on it, and closes both together; the
 * database is closed again if the service fails to start.
 */
export async function withServiceDatabase<T extends { close(): Promise<void> }>(
  options: ServiceDatabaseOptions,
  start: (dataSource: DataSource) => Promise<T>,
): Promise<T> {
  const dataSource = await openServiceDatabase(options);
  try {
    const running = await start(dataSource);
    return {
      ...running,
      close: async () => {
        await running.close();
        await dataSource.destroy();
      },
    };
  } catch (err) {
    await dataSource.destroy();
    throw err;
  }
}
