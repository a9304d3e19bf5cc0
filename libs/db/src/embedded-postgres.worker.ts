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

/**
 * pglite-socket serves every client on PGlite's one session, queueing protocol messages one
 * at a time and keeping a client's messages together only inside an explicit transaction.
 * An extended query is several messages (Parse, Bind, Describe, Execute … Sync): when the
 * queue held several clients' messages, another client's Parse could land between one
 * client's Parse and Bind, which then ran the wrong statement ("bind message supplies 2
 * parameters, but prepared statement requires 4") or another query's rows — policy answered
 * `no_policy` and routing `model_not_found` under load (embedded-postgres.spec.ts). The
 * queue already waits for the same client while `isInTransaction()` is true; this makes it
 * true from a client's first extended-protocol message until its Sync, so each extended
 * query runs whole.
 */
function keepExtendedQueriesWhole(db: PGlite): void {
  let open = false;
  const exec = db.execProtocolRawStream.bind(db);
  db.execProtocolRawStream = (message: Uint8Array, options: Parameters<PGlite['execProtocolRawStream']>[1]) => {
    switch (message[0]) {
      case 0x50: // Parse
      case 0x42: // Bind
      case 0x44: // Describe
      case 0x45: // Execute
      case 0x43: // Close
      case 0x48: // Flush
        open = true;
        break;
      case 0x53: // Sync
      case 0x51: // simple Query
      case 0x58: // Terminate
        open = false;
        break;
    }
    return exec(message, options);
  };
  const inTransaction = db.isInTransaction.bind(db);
  db.isInTransaction = () => open || inTransaction();
  // The server rolls back after a client that vanished mid-transaction: that ends a sequence too.
  const run = db.exec.bind(db);
  db.exec = (...args: Parameters<PGlite['exec']>) => {
    open = false;
    return run(...args);
  };
}

async function main(): Promise<void> {
  const { dataDir, host, port } = workerData as WorkerInput;
  const db = await PGlite.create(dataDir);
  keepExtendedQueriesWhole(db);
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
