import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { infraRequired } from '@asc/testing';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IIoK8sApiNetworkingV1NetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1';
import { allContainers, kubectlAvailable, OVERLAYS, podSpecOf, renderOverlay, type RenderedObject } from './kubernetes-render';

/**
 * What a platform team applies, checked without a cluster: every overlay renders, every object
 * matches the Kubernetes OpenAPI schema (kubernetes-models, offline), and the rules a cluster's
 * admission policies (or a reviewer) would enforce hold.
 */

/** The schema of each kind ASC ships; an object of another kind fails until it is added here. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
};

const SERVICES = ['ingress', 'policy', 'routing', 'secrets', 'metering', 'audit'] as const;
const skip = kubectlAvailable() ? undefined : 'kubectl is not installed';
if (skip && infraRequired) throw new Error('kubectl is not installed (ASC_REQUIRE_INFRA=1: the manifest checks may not skip)');

const component = (o: RenderedObject) => o.metadata.labels?.['app.kubernetes.io/component'];
const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

/** Components a NetworkPolicy peer list lets in (undefined = any source). */
function peersOf(from: IIoK8sApiNetworkingV1NetworkPolicyPeer[] | undefined): string[] | undefined {
  if (!from || from.length === 0) return undefined;
  return from.map((p) => {
    if (p.ipBlock) return `ipBlock:${p.ipBlock.cidr}`;
    if (p.namespaceSelector) return `namespace:${JSON.stringify(p.namespaceSelector.matchLabels)}`;
    const labels = p.podSelector?.matchLabels ?? {};
    return labels['app.kubernetes.io/component'] ?? `pods:${JSON.stringify(labels)}`;
  });
}

/** Who may open `port` on pods with these labels, across every policy that selects them. */
function allowedSources(objects: RenderedObject[], podLabels: Record<string, string>, port: number): Set<string> {
  const sources = new Set<string>();
  for (const o of objects.filter((x) => x.kind === 'NetworkPolicy')) {
    const spec = (o as unknown as INetworkPolicy).spec!;
    if (!matches(spec.podSelector.matchLabels, podLabels)) continue;
    for (const rule of spec.ingress ?? []) {
      if (rule.ports && !rule.ports.some((p) => p.port === port)) continue;
      for (const s of peersOf(rule.from) ?? ['*']) sources.add(s);
    }
  }
  return sources;
}

/** Components allowed to leave their pods towards `port` (egress rules). */
function egressAllowed(objects: RenderedObject[], podLabels: Record<string, string>, port: number): boolean {
  return objects
    .filter((x) => x.kind === 'NetworkPolicy')
    .map((o) => (o as unknown as INetworkPolicy).spec!)
    .filter((spec) => spec.podSelector.matchLabels && Object.keys(spec.podSelector.matchLabels).length > 0)
    .filter((spec) => matches(spec.podSelector.matchLabels, podLabels))
    .some((spec) => (spec.egress ?? []).some((rule) => (rule.ports ?? []).some((p) => p.port === port)));
}

for (const overlay of OVERLAYS) {
  describe(`deploy/kubernetes/overlays/${overlay}`, { skip }, () => {
    const objects = skip ? [] : renderOverlay(overlay);
    const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Job');
    const deployments = objects.filter((o) => o.kind === 'Deployment');

    it('renders a Deployment, Service, ServiceAccount and ConfigMap per service, in one namespace', () => {
      for (const s of SERVICES) {
        for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'PodDisruptionBudget']) {
          assert.ok(objects.some((o) => o.kind === kind && o.metadata.name === `asc-${s}`), `${kind} asc-${s} missing`);
        }
        assert.ok(objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith(`asc-${s}-`)), `ConfigMap of ${s} missing`);
      }
      assert.deepEqual([...new Set(objects.map((o) => o.metadata.namespace))], ['asc']);
    });

    it('validates every object against the Kubernetes OpenAPI schema', () => {
      for (const o of objects) {
        if (o.apiVersion === 'cert-manager.io/v1' && o.kind === 'Certificate') {
          // A CRD kubernetes-models has no schema for: the fields mTLS depends on are checked by hand.
          const spec = (o as unknown as { spec: { secretName: string; uris: string[]; usages: string[]; issuerRef: { name: string } } }).spec;
          const service = component(o);
          assert.equal(spec.secretName, `asc-${service}-tls`, o.metadata.name);
          assert.deepEqual(spec.uris, [`spiffe://asc/${service}`], o.metadata.name);
          assert.deepEqual([...spec.usages].sort(), ['client auth', 'server auth'], o.metadata.name);
          assert.ok(spec.issuerRef.name, o.metadata.name);
          continue;
        }
        const Model = MODELS[`${o.apiVersion}/${o.kind}`];
        assert.ok(Model, `no schema for ${o.apiVersion} ${o.kind}: add its kubernetes-models class to MODELS`);
        assert.doesNotThrow(() => new Model(o as never).validate(), `${o.kind} ${o.metadata.name}`);
      }
    });

    it('fails the schema check on a broken object (the validator is live)', () => {
      const broken = structuredClone(deployments[0]) as unknown as { spec: { template: { spec: { containers: Array<{ name: unknown }> } } } };
      broken.spec.template.spec.containers[0].name = 42;
      assert.throws(() => new Deployment(broken as never).validate(), /containers\/0\/name must be string/);
    });

    it('every container: requests and limits, a pinned image, non-root, read-only root, no privilege escalation', () => {
      for (const w of workloads) {
        const pod = podSpecOf(w)!;
        assert.equal(pod.securityContext?.runAsNonRoot, true, `${w.metadata.name}: pod runAsNonRoot`);
        assert.equal(pod.automountServiceAccountToken, false, `${w.metadata.name}: no API token in the pod`);
        for (const c of allContainers(pod)) {
          const where = `${w.kind} ${w.metadata.name} container ${c.name}`;
          for (const r of ['cpu', 'memory']) {
            assert.ok(c.resources?.requests?.[r], `${where}: requests.${r}`);
            assert.ok(c.resources?.limits?.[r], `${where}: limits.${r}`);
          }
          assert.match(c.image ?? '', /^[a-z0-9./-]+(:[0-9][A-Za-z0-9._-]*|@sha256:[a-f0-9]{64})$/, `${where}: image pinned to a version or digest`);
          assert.doesNotMatch(c.image ?? '', /:latest$/, `${where}: no latest tag`);
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
          assert.notEqual(c.securityContext?.runAsNonRoot, false, `${where}: runAsNonRoot`);
          assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: capabilities dropped`);
          assert.ok(!c.securityContext?.privileged, `${where}: not privileged`);
        }
      }
    });

    it('the image tag is the release the init containers wait for', () => {
      const release = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('asc-release-'));
      const tag = (release?.data as Record<string, string>).ASC_RELEASE;
      for (const w of workloads) for (const c of allContainers(podSpecOf(w)!)) assert.ok(c.image?.endsWith(`:${tag}`), `${c.image} is not release ${tag}`);
    });

    it('every service container has startup, readiness and liveness probes on its ops port', () => {
      for (const d of deployments) {
        const c = podSpecOf(d)!.containers[0];
        // The ops port (health, readiness, metrics): a port named "ops" when the service has one, else "http".
        const opsPort = c.ports?.find((p) => p.name === 'ops') ?? c.ports?.find((p) => p.name === 'http');
        assert.ok(opsPort, `${d.metadata.name}: a named ops port`);
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
          assert.equal(c[probe]?.httpGet?.port, opsPort.name, `${d.metadata.name}: ${probe} on the ops port`);
        }
        assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
        assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
      }
    });

    it('every Deployment is covered by a PodDisruptionBudget, a NetworkPolicy and topology spread', () => {
      const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget') as unknown as IPodDisruptionBudget[];
      const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as INetworkPolicy[];
      for (const d of deployments) {
        const labels = (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
        assert.ok(pdbs.some((p) => matches(p.spec?.selector?.matchLabels, labels)), `${d.metadata.name}: PDB`);
        const own = policies.filter((p) => Object.keys(p.spec?.podSelector.matchLabels ?? {}).length && matches(p.spec?.podSelector.matchLabels, labels));
        assert.ok(own.some((p) => p.spec?.policyTypes?.includes('Ingress')), `${d.metadata.name}: NetworkPolicy of its own`);
        const spread = podSpecOf(d)!.topologySpreadConstraints ?? [];
        assert.deepEqual(spread.map((t) => t.topologyKey).sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'], `${d.metadata.name}: spread`);
      }
    });

    it('NetworkPolicies: default deny; ingress open; secrets only from ingress; Kafka, ClickHouse, Postgres, Redis only from their users', () => {
      const deny = (objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as INetworkPolicy[]).find(
        (p) => Object.keys(p.spec!.podSelector).length === 0 && !p.spec!.ingress && !p.spec!.egress,
      );
      assert.ok(deny, 'a default-deny policy selecting every pod');
      assert.deepEqual(deny!.spec!.policyTypes?.sort(), ['Egress', 'Ingress']);

      const labels = (s: string) => ({ 'app.kubernetes.io/component': s });
      assert.ok(allowedSources(objects, labels('ingress'), 8080).has('*'), 'ingress reachable from outside');
      assert.deepEqual([...allowedSources(objects, labels('secrets'), 50054)], ['ingress'], 'secrets gRPC from ingress only');
      for (const s of ['policy', 'routing', 'secrets', 'metering', 'audit']) {
        for (const d of deployments.filter((x) => component(x) === s)) {
          for (const port of podSpecOf(d)!.containers[0].ports ?? []) {
            assert.ok(!allowedSources(objects, labels(s), port.containerPort).has('*'), `${s}:${port.containerPort} is not open to everyone`);
          }
        }
      }
      const users: Record<string, [number, string[]]> = {
        postgres: [5432, ['audit', 'migrate', 'policy', 'routing', 'secrets']],
        clickhouse: [8123, ['metering']],
        redis: [6379, ['ingress', 'metering', 'policy']],
        kafka: [9092, ['audit', 'ingress', 'metering', 'migrate', 'policy', 'routing', 'secrets', 'topics']],
      };
      // Whoever is given a Redis URL must be let through to Redis (and only they).
      const withRedis = deployments.filter((d) => podSpecOf(d)!.containers[0].env?.some((e) => e.name === 'ASC_REDIS_URL')).map(component).sort();
      assert.deepEqual(withRedis, users.redis[1], 'the services configured with ASC_REDIS_URL are the ones allowed to reach Redis');
      for (const [infra, [port, expected]] of Object.entries(users)) {
        assert.deepEqual([...allowedSources(objects, { 'asc.dev/infra': infra }, port)].sort(), expected, `${infra} reachable from`);
        for (const c of [...SERVICES, 'migrate', 'topics']) {
          assert.equal(egressAllowed(objects, labels(c), port), expected.includes(c), `${c} egress to ${infra}:${port}`);
        }
      }
    });

    it('ingress scales on CPU with an HPA; migrations and topics are Jobs the services wait for', () => {
      const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as unknown as { spec: { scaleTargetRef: { name: string }; minReplicas: number; maxReplicas: number } };
      assert.equal(hpa.spec.scaleTargetRef.name, 'asc-ingress');
      assert.ok(hpa.spec.maxReplicas > hpa.spec.minReplicas);
      const jobArgs = objects.filter((o) => o.kind === 'Job').map((j) => podSpecOf(j)!.containers[0].args?.join(' ')).sort();
      assert.deepEqual(jobArgs, ['migrate', 'topics']);
      const waits = Object.fromEntries(deployments.map((d) => [component(d), (podSpecOf(d)!.initContainers ?? []).map((c) => c.args?.join(' '))]));
      assert.deepEqual(waits, {
        ingress: ['await-topics'],
        policy: ['await-migrations policy'],
        routing: ['await-migrations routing'],
        secrets: ['await-migrations secrets'],
        metering: ['await-topics'],
        audit: ['await-migrations audit', 'await-topics'],
      });
    });

    it('secret values are referenced, never written in the manifests', () => {
      assert.ok(!objects.some((o) => o.kind === 'Secret'), 'no Secret objects in the repo');
      const sensitive = /(TOKEN|PASSWORD|DATABASE_URL|KEK|SECRET_KEY|API_KEY)$/;
      for (const o of objects.filter((x) => x.kind === 'ConfigMap')) {
        for (const k of Object.keys((o.data ?? {}) as Record<string, string>)) assert.doesNotMatch(k, sensitive, `${o.metadata.name}: ${k} belongs in a Secret`);
      }
      for (const w of workloads) {
        for (const c of allContainers(podSpecOf(w)!)) {
          for (const v of c.env ?? []) {
            if (sensitive.test(v.name)) assert.ok(v.valueFrom?.secretKeyRef, `${w.metadata.name}/${c.name}: ${v.name} from a Secret`);
          }
        }
      }
    });
  });
}
