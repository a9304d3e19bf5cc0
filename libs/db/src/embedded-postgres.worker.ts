// Runs PGlite and its wire-protocol server on a worker thread, so Postgres (WASM) work never
// blocks the event loop that serves requests in the embedded suite.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

interface WorkerInput {
  dataDir: string;
  host: string;
  port: number;
}

async function main(): Promise<void> {
  const { dataDir, host, port } = workerData as WorkerInput;
  const db = await PGlite.create(dataDir);
  const server = new PGLiteSocketServer({ db, host, port, maxConnections: 64 });
  await server.start();
  const conn = server.getServerConn();
  parentPort?.postMessage({ type: 'ready', port: Number(conn.split(':').pop()) });
  parentPort?.on('message', (message: { type: string }) => {
    if (message.type !== 'stop') return;
    void server
      .stop()
      .then(() => db.close())
      .finally(() => parentPort?.postMessage({ type: 'stopped' }));
  });
}

main().catch((err: unknown) => parentPort?.postMessage({ type: 'error', message: (err as Error).message }));
