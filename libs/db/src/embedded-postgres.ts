import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export interface EmbeddedPostgres {
  /** Connection string for the `pg` driver (and so TypeORM). */
  readonly url: string;
  close(): Promise<void>;
}

type WorkerMessage = { type: 'ready'; port: number } | { type: 'stopped' } | { type: 'error'; message: string };

/**
 * PGlite (Postgres compiled to WASM) served over the Postgres wire protocol from a worker
 * thread, so the services use the same `pg` driver and migrations as in production and the
 * database's CPU work stays off the request event loop. Data persists in `dataDir`.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; host?: string; port?: number }): Promise<EmbeddedPostgres> {
  mkdirSync(options.dataDir, { recursive: true });
  const host = options.host ?? '127.0.0.1';
  const worker = new Worker(join(__dirname, 'embedded-postgres.worker.js'), {
    workerData: { dataDir: options.dataDir, host, port: options.port ?? 0 },
  });
  const next = () =>
    new Promise<WorkerMessage>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  const ready = await next();
  if (ready.type !== 'ready') {
    await worker.terminate();
    throw new Error(`embedded Postgres failed to start: ${ready.type === 'error' ? ready.message : ready.type}`);
  }
  return {
    url: `postgres://postgres@${host}:${ready.port}/postgres`,
    close: async () => {
      const stopped = next();
      worker.postMessage({ type: 'stop' });
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 5000))]);
      await worker.terminate();
    },
  };
}
