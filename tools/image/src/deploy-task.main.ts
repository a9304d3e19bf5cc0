import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { env, loadConfig, sensitive } from '@asc/config';
import { ALL_TOPICS, KafkaEventBus } from '@asc/events';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { z } from 'zod';

/**
 * The deployment tasks of the image (`asc migrate | topics | await-migrations | await-topics`),
 * run by Kubernetes as Jobs (migrate, topics) and init containers (await-*), so replicas never
 * race each other on a schema change and never start before the schema they need exists.
 */

/** Services with a PostgreSQL schema, in the order their migrations are applied. */
const DATABASE_SERVICES = ['policy', 'routing', 'secrets', 'audit'] as const;
type DatabaseService = (typeof DATABASE_SERVICES)[number];

/** The marker table the migrate Job fills once a release's migrations are in (one per schema). */
const MARKER_TABLE = 'asc_release';

const releaseShape = {
  /** The release being rolled out (the image tag): the init containers wait for its marker. */
  ASC_RELEASE: env.str(),
  ASC_AWAIT_TIMEOUT_MS: env.int(600_000, 1_000),
};
const kafkaShape = {
  KAFKA_BROKERS: env.list('127.0.0.1:9092'),
  KAFKA_TOPIC_PREFIX: env.topicPrefix(),
  KAFKA_TOPIC_PARTITIONS: env.int(12, 1),
  /** -1 = the broker's default.replication.factor. */
  KAFKA_TOPIC_REPLICATION_FACTOR: z.coerce.number().int().min(-1).default(-1),
  ASC_AWAIT_TIMEOUT_MS: env.int(600_000, 1_000),
};
const databaseUrlShape = (service: DatabaseService) => ({ [`${service.toUpperCase()}_DATABASE_URL`]: sensitive(env.str()) });
const httpPortShape = (service: DatabaseService) => ({ [`${service.toUpperCase()}_HTTP_PORT`]: env.port() });

function log(message: string): void {
  console.log(JSON.stringify({ level: 'log', context: 'asc-deploy-task', message }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `check` until it returns true or the deadline passes (infrastructure may still be starting). */
async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
      last = 'not yet';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: still waiting after ${timeoutMs} ms (${last})`);
    await sleep(1_000);
  }
}

async function withPg<T>(url: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * Starts each database service once with this process's environment (a service applies its own
 * migrations before it reports ready), stops it, and records the release in its schema. The
 * schemas are independent, so the services start side by side.
 */
async function migrate(): Promise<void> {
  const { ASC_RELEASE, ASC_AWAIT_TIMEOUT_MS } = loadConfig(releaseShape);
  await Promise.all(DATABASE_SERVICES.map((service) => migrateOne(service, ASC_RELEASE, ASC_AWAIT_TIMEOUT_MS)));
}

async function migrateOne(service: DatabaseService, release: string, timeoutMs: number): Promise<void> {
  const config = loadConfig({ ...databaseUrlShape(service), ...httpPortShape(service) });
  const url = String(config[`${service.toUpperCase()}_DATABASE_URL`]);
  const port = Number(config[`${service.toUpperCase()}_HTTP_PORT`]);
  const main = join(__dirname, '..', '..', '..', 'apps', service, 'src', 'main.js');
  log(`${service}: applying migrations for release ${release}`);
  const child = spawn(process.execPath, [...process.execArgv, main], { stdio: 'inherit', env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    await waitUntil(`${service} /readyz`, timeoutMs, async () => {
      if (child.exitCode !== null) throw new Error(`${service} exited with ${child.exitCode} before it was ready`);
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      return res.ok;
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  await withPg(url, async (client) => {
    await client.query(`CREATE TABLE IF NOT EXISTS "${service}"."${MARKER_TABLE}" (release text PRIMARY KEY, migrated_at timestamptz NOT NULL DEFAULT now())`);
    await client.query(`INSERT INTO "${service}"."${MARKER_TABLE}" (release) VALUES ($1) ON CONFLICT DO NOTHING`, [release]);
  });
  log(`${service}: release ${release} migrated`);
}

async function awaitMigrations(service: string | undefined): Promise<void> {
  if (!DATABASE_SERVICES.includes(service as DatabaseService)) {
    throw new Error(`await-migrations needs one of ${DATABASE_SERVICES.join(', ')}, got ${service ?? 'nothing'}`);
  }
  const s = service as DatabaseService;
  const { ASC_RELEASE, ASC_AWAIT_TIMEOUT_MS } = loadConfig(releaseShape);
  const url = String(loadConfig(databaseUrlShape(s))[`${s.toUpperCase()}_DATABASE_URL`]);
  await waitUntil(`migrations of ${s} for release ${ASC_RELEASE}`, ASC_AWAIT_TIMEOUT_MS, () =>
    withPg(url, async (client) => {
      const found = await client.query(`SELECT to_regclass($1) AS t`, [`"${s}"."${MARKER_TABLE}"`]);
      if (!found.rows[0]?.t) return false;
      const rows = await client.query(`SELECT 1 FROM "${s}"."${MARKER_TABLE}" WHERE release = $1`, [ASC_RELEASE]);
      return rows.rowCount === 1;
    }),
  );
  log(`${s}: release ${ASC_RELEASE} is migrated`);
}

async function topics(): Promise<void> {
  const config = loadConfig(kafkaShape);
  const bus = new KafkaEventBus({
    brokers: config.KAFKA_BROKERS,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    clientId: 'asc-topics',
    topics: { partitions: config.KAFKA_TOPIC_PARTITIONS, replicationFactor: config.KAFKA_TOPIC_REPLICATION_FACTOR },
  });
  try {
    let created: string[] = [];
    await waitUntil('topic creation', config.ASC_AWAIT_TIMEOUT_MS, async () => {
      created = (await bus.ensureTopics()).created;
      return true;
    });
    log(created.length ? `created ${created.join(', ')}` : 'every topic already exists');
  } finally {
    await bus.close();
  }
}

async function awaitTopics(): Promise<void> {
  const config = loadConfig(kafkaShape);
  const bus = new KafkaEventBus({ brokers: config.KAFKA_BROKERS, topicPrefix: config.KAFKA_TOPIC_PREFIX, clientId: 'asc-await-topics' });
  const wanted = ALL_TOPICS.map((t) => bus.topicName(t));
  await bus.close();
  const admin = new Kafka({ brokers: config.KAFKA_BROKERS, clientId: 'asc-await-topics', logLevel: logLevel.NOTHING }).admin();
  try {
    await waitUntil(`topics ${wanted.join(', ')}`, config.ASC_AWAIT_TIMEOUT_MS, async () => {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      return wanted.every((t) => existing.has(t));
    });
  } finally {
    await admin.disconnect();
  }
  log('every topic exists');
}

const [task, arg] = process.argv.slice(2);
const tasks: Record<string, () => Promise<void>> = {
  migrate,
  topics,
  'await-migrations': () => awaitMigrations(arg),
  'await-topics': awaitTopics,
};
const run = tasks[task ?? ''];
if (!run) {
  console.error(`asc: unknown task '${task ?? ''}' (migrate, topics, await-migrations <service>, await-topics)`);
  process.exit(64);
}
run().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`asc ${task}: ${(err as Error).message}`);
    process.exit(1);
  },
);
