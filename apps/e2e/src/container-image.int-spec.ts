import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditConfigShape } from '@asc/audit';
import { ingressConfigShape } from '@asc/ingress';
import { meteringConfigShape } from '@asc/metering';
import { policyConfigShape } from '@asc/policy';
import { routingConfigShape } from '@asc/routing';
import { secretsConfigShape } from '@asc/secrets';
import { freePort } from '@asc/service-kit';
import { infra, infraRequired, missingInfra, repoRoot, testPki, throwawayDatabase, waitForReady, type ThrowawayDatabase } from '@asc/testing';
import type { IIoK8sApiCoreV1Container } from 'kubernetes-models/v1';
import { containerEnv, kubectlAvailable, OVERLAYS, podSpecOf, renderOverlay, type RenderedObject } from './kubernetes-render';

/**
 * The image, tested without a container engine: tools/image/build.sh (what the Dockerfile
 * runs) assembles it in a clean directory; its contents are checked; then the Kubernetes boot
 * check runs every Job, init container and service of the single-node overlay from that
 * directory with exactly the environment the rendered manifest gives the container (addresses
 * pointed at this machine's Postgres, Kafka and ClickHouse), and waits for /readyz.
 */

const SHAPES: Record<string, Record<string, unknown>> = {
  ingress: ingressConfigShape,
  policy: policyConfigShape,
  routing: routingConfigShape,
  secrets: secretsConfigShape,
  metering: meteringConfigShape,
  audit: auditConfigShape,
};
/** Read straight from the environment by service-kit or Node itself, not by a service's config. */
const PLATFORM_VARIABLES = new Set(['LOG_LEVEL', 'ASC_LOG_FORMAT', 'NODE_OPTIONS']);
/** Variables left at their default on purpose in Kubernetes, and why. */
const DEFAULT_ON_PURPOSE: Record<string, string[]> = {
  // Plaintext gRPC is a development switch, never set in a cluster (the migrate Job aside).
  ingress: ['ASC_GRPC_INSECURE'],
  policy: ['ASC_GRPC_INSECURE'],
  routing: ['ASC_GRPC_INSECURE'],
  metering: ['ASC_GRPC_INSECURE'],
  // The KEK comes from a Secret (SECRETS_KEK); a key file is the embedded default. The previous KEK is
  // set only during a rotation, and tenants' own KEKs (BYOK) need a KMS volume of the operator's choice.
  secrets: ['ASC_GRPC_INSECURE', 'SECRETS_KEK_FILE', 'SECRETS_KEK_PREVIOUS', 'SECRETS_KEK_PREVIOUS_FILE', 'SECRETS_TENANT_KEK_DIR'],
  // The signing key comes from a Secret (AUDIT_SIGNING_KEY); a key file is the embedded default.
  audit: ['ASC_GRPC_INSECURE', 'AUDIT_SIGNING_KEY_FILE'],
};
/** Every service of the suite. */
const BOOT_ORDER = ['policy', 'routing', 'secrets', 'audit', 'metering', 'ingress'];

/** Packages the lock marks as needed only for development (devDependencies and what only they pull in). */
const devOnlyPackages = Object.entries((JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }).packages)
  .filter(([path, p]) => path.startsWith('node_modules/') && p.dev === true)
  .map(([path]) => path);
const dependencies = Object.keys((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, out);
    else out.push(p);
  }
  return out;
}

const serviceOf = (d: RenderedObject) => d.metadata.labels?.['app.kubernetes.io/component'] ?? '';

function variableCheck(objects: RenderedObject[]): string[] {
  const problems: string[] = [];
  for (const d of objects.filter((o) => o.kind === 'Deployment')) {
    const service = serviceOf(d);
    const shape = SHAPES[service];
    if (!shape) {
      problems.push(`${d.metadata.name}: no config shape known for service "${service}"`);
      continue;
    }
    const c = podSpecOf(d)!.containers[0];
    const set = new Set(Object.keys(containerEnv(c, objects, () => 'x')));
    for (const name of Object.keys(shape)) {
      if (!set.has(name) && !(DEFAULT_ON_PURPOSE[service] ?? []).includes(name)) problems.push(`${service}: the manifest does not set ${name}, which the service reads`);
    }
    for (const name of set) {
      if (!(name in shape) && !PLATFORM_VARIABLES.has(name)) problems.push(`${service}: the manifest sets ${name}, which the service does not read`);
    }
  }
  return problems;
}

interface Finished {
  code: number | null;
  output: string;
}

describe('container image and Kubernetes boot check', async () => {
  if (!kubectlAvailable() && infraRequired) throw new Error('kubectl is not installed (ASC_REQUIRE_INFRA=1: the boot check may not skip)');
  const skip = kubectlAvailable() ? await missingInfra('postgres', 'kafka', 'clickhouse') : 'kubectl is not installed';
  describe('single-node overlay from a freshly built image directory', { skip }, () => {
  const out = mkdtempSync(join(tmpdir(), 'asc-image-'));
  const asc = join(out, 'bin', 'asc');
  const run = randomBytes(4).toString('hex');
  const running: Array<{ name: string; stop(): Promise<string>; output(): string }> = [];
  let db: ThrowawayDatabase;
  const clickhouseDatabase = `asc_k8s_${run}`;

  /** The environment of a process in the pod: nothing from this test process but PATH to find node and sh. */
  const podEnv = (env: Record<string, string>) => ({ ...env, PATH: `${dirname(process.execPath)}:/usr/bin:/bin` });

  function runToEnd(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<Finished> {
    return new Promise((resolve) => {
      const child = spawn(asc, args, { env: podEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }

  before(async () => {
    const t0 = Date.now();
    const built = spawnSync('bash', [join(repoRoot, 'tools/image/build.sh'), out], {
      env: { ...process.env, ASC_IMAGE_PREBUILT: '1' },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(built.status, 0, `tools/image/build.sh failed:\n${built.stdout}\n${built.stderr}`);
    console.log(`[image] tools/image/build.sh assembled the image directory in ${Date.now() - t0} ms`);
    db = await throwawayDatabase('asc_k8s');
  });

  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
    await db?.drop();
    await fetch(infra.clickhouseUrl, { method: 'POST', body: `DROP DATABASE IF EXISTS ${clickhouseDatabase}` }).catch(() => undefined);
    rmSync(out, { recursive: true, force: true });
  });

  it('holds production dependencies only, the compiled services without tests, the protos and the asc command', () => {
    const modules = readdirSync(join(out, 'node_modules'));
    assert.ok(devOnlyPackages.includes('node_modules/typescript') && devOnlyPackages.includes('node_modules/kubernetes-models'));
    for (const dev of devOnlyPackages) assert.ok(!existsSync(join(out, dev)), `${dev} (development only) is in the image`);
    for (const dep of dependencies) assert.ok(existsSync(join(out, 'node_modules', dep)), `dependency ${dep} is missing from the image`);
    assert.ok(modules.length > 0);
    for (const s of BOOT_ORDER) assert.ok(existsSync(join(out, 'dist', 'apps', s, 'src', 'main.js')), `${s} main.js`);
    const dist = filesUnder(join(out, 'dist'));
    assert.deepEqual(dist.filter((f) => /\.(int-|e2e-)?spec\.js$/.test(f)), [], 'no test files in the image');
    assert.ok(!existsSync(join(out, 'dist', 'apps', 'e2e')));
    assert.ok(existsSync(join(out, 'proto', 'asc', 'policy', 'v1', 'policy_service.proto')));
    accessSync(asc, constants.X_OK);
  });

  it('the command picks the service; an unknown one is refused with the list', async () => {
    const unknown = await runToEnd(['gateway'], {});
    assert.equal(unknown.code, 64);
    assert.match(unknown.output, /usage: asc <ingress\|policy\|routing\|secrets\|metering\|audit>/);
    assert.match(unknown.output, /unknown command 'gateway'/);
    // The chosen service starts and validates its own environment: with none, it names what is missing.
    const policy = await runToEnd(['policy'], {});
    assert.equal(policy.code, 1);
    assert.match(policy.output, /policy: invalid configuration:[\s\S]*POLICY_DATABASE_URL is required but not set/);
  });

  it('every overlay sets exactly the variables each service reads (libs/*/src/*.config.ts)', () => {
    for (const overlay of OVERLAYS) assert.deepEqual(variableCheck(renderOverlay(overlay)), [], overlay);
  });

  it('runs the Jobs, the init containers and every service of the single-node overlay with the manifest environment, each reaching /readyz', async () => {
    const objects = renderOverlay('single-node');
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    const ports: Record<string, { http: number; grpc: number; ops: number }> = {};
    const range = { from: 20_000, to: 32_000 };
    for (const d of deployments) {
      ports[serviceOf(d)] = { http: await freePort('127.0.0.1', range), grpc: await freePort('127.0.0.1', range), ops: await freePort('127.0.0.1', range) };
    }
    const secrets: Record<string, string> = {
      'asc-admin/token': `adm_${randomBytes(16).toString('hex')}`,
      'asc-redis/url': process.env.ASC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      'asc-audit/signing-key': generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      'asc-secrets/kek': randomBytes(32).toString('base64'),
      'asc-metering/clickhouse-password': '',
      ...Object.fromEntries(['policy', 'routing', 'secrets', 'audit'].map((s) => [`asc-${s}/database-url`, db.url])),
    };
    const pki = testPki();
    const secretValue = (name: string, key: string) => {
      const value = secrets[`${name}/${key}`];
      if (value === undefined) throw new Error(`Secret ${name} key ${key} is referenced; add it to deploy/README.md and to this test`);
      return value;
    };
    /** Cluster addresses → this machine. Only variables the manifest sets are rewritten; none is added. */
    const toLoopback = (env: Record<string, string>) => {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(env)) {
        const owner = k.split('_')[0].toLowerCase();
        if (/_HTTP_PORT$/.test(k)) out[k] = String(ports[owner].http);
        else if (/_OPS_PORT$/.test(k)) out[k] = String(ports[owner].ops);
        else if (/(^|_)REDIS_URL$/.test(k)) out[k] = process.env.ASC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
        else if (/_GRPC_URL$/.test(k)) out[k] = `127.0.0.1:${ports[owner].grpc}`;
        // The cert-manager Secret mounted at /etc/asc/tls → this run's test CA and service certificates.
        else if (/_TLS_(CERT|KEY|CA)_FILE$/.test(k)) out[k] = pki.env(owner)[k] ?? v;
        else if (/_SPOOL_DIR$/.test(k)) out[k] = mkdtempSync(join(tmpdir(), 'asc-spool-'));
        else if (/_GRPC_TARGET$/.test(k)) out[k] = `127.0.0.1:${ports[owner].grpc}`;
        else if (k === 'KAFKA_BROKERS') out[k] = infra.kafkaBrokers.join(',');
        else if (k === 'KAFKA_TOPIC_PREFIX') out[k] = `k8s-${run}.`;
        else if (k === 'CLICKHOUSE_URL') out[k] = infra.clickhouseUrl;
        else if (k === 'CLICKHOUSE_DATABASE') out[k] = clickhouseDatabase;
        else if (k === 'CLICKHOUSE_USER') out[k] = 'default';
        else if (/_CONSUMER_GROUP$/.test(k)) out[k] = `${v}-k8s-${run}`;
        else if (k === 'LOG_LEVEL') out[k] = 'warn';
        else out[k] = v;
      }
      return out;
    };
    const envOf = (c: IIoK8sApiCoreV1Container) => toLoopback(containerEnv(c, objects, secretValue));

    // The Jobs, as Kubernetes runs them before the services' init containers let them start.
    const t0 = Date.now();
    for (const job of ['asc-topics', 'asc-migrate']) {
      const c = podSpecOf(objects.find((o) => o.kind === 'Job' && o.metadata.name === job)!)!.containers[0];
      const done = await runToEnd(c.args ?? [], envOf(c));
      assert.equal(done.code, 0, `Job ${job} failed:\n${done.output.slice(-3000)}`);
    }

    // Like the kubelet: each pod's init containers, then its service; the pods start side by side.
    const bootPod = async (service: string) => {
      const d = deployments.find((x) => serviceOf(x) === service);
      assert.ok(d, `Deployment of ${service}`);
      const pod = podSpecOf(d)!;
      for (const init of pod.initContainers ?? []) {
        const done = await runToEnd(init.args ?? [], { ...envOf(init), ASC_AWAIT_TIMEOUT_MS: '30000' }, 60_000);
        assert.equal(done.code, 0, `${service} init container ${init.name} failed:\n${done.output.slice(-3000)}`);
      }
      const c = pod.containers[0];
      const child = spawn(asc, c.args ?? [], { env: podEnv(envOf(c)), stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (b: Buffer) => (output += b.toString()));
      child.stderr.on('data', (b: Buffer) => (output += b.toString()));
      const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(code === null ? `signal ${signal}` : `exit ${code}`)));
      running.push({
        name: service,
        output: () => output,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            const how = await exited;
            clearTimeout(timer);
            return how;
          }
          return `already ended (${await exited})`;
        },
      });
      // Probes go to the ops port when the service has one (a separate listener), else to http.
      const probePort = Object.keys(envOf(c)).some((k) => k.endsWith('_OPS_PORT')) ? ports[service].ops : ports[service].http;
      try {
        await waitForReady(`http://127.0.0.1:${probePort}/readyz`, 90_000);
      } catch (err) {
        throw new Error(`${service} did not become ready with the manifest environment: ${(err as Error).message}\n${output.slice(-3000)}`);
      }
    };
    const jobsDone = Date.now();
    await Promise.all(BOOT_ORDER.map(bootPod));
    console.log(`[image] boot check: Jobs ${jobsDone - t0} ms, init containers + six services ready ${Date.now() - jobsDone} ms`);
  });

  it('a service stops cleanly on SIGTERM (what the kubelet sends, through tini)', async () => {
    const ingress = running.find((p) => p.name === 'ingress');
    assert.ok(ingress, 'ingress was started by the boot check');
    assert.equal(await ingress.stop(), 'exit 0', `ingress after SIGTERM:\n${ingress.output().slice(-2000)}`);
    assert.doesNotMatch(ingress.output(), /failed to start|Unhandled|Error:/);
  });
});
});
