import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** Connection string for the `pg` driver (and so TypeORM). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * PGlite (Postgres compiled to WASM) served over the Postgres wire protocol, so the
 * services use the same `pg` driver and migrations as in production. Data persists in
 * `dataDir`.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; host?: string; port?: number }): Promise<EmbeddedPostgres> {
  mkdirSync(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir);
  const host = options.host ?? '127.0.0.1';
  const server = new PGLiteSocketServer({ db, host, port: options.port ?? 0, maxConnections: 64 });
  await server.start();
  const conn = server.getServerConn();
  const port = Number(conn.split(':').pop());
  return {
    url: `postgres://postgres@${host}:${port}/postgres`,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}
