import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@asc/testing';
import type { IIoK8sApiCoreV1Container, IIoK8sApiCoreV1EnvVar, IIoK8sApiCoreV1PodSpec } from 'kubernetes-models/v1';

/** The overlays a user can apply; every one is rendered and checked. */
export const OVERLAYS = ['single-node', 'production'] as const;
export type Overlay = (typeof OVERLAYS)[number];

export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export function kubectlAvailable(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
}

/** Splits kubectl's stream of pretty-printed JSON documents (one per object). */
function splitJsonStream(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  return out;
}

/**
 * Renders an overlay with `kubectl kustomize`, as `kubectl apply -k` would, and returns its
 * objects. kubectl prints YAML; `kubectl label --local -o json` turns it into JSON without an
 * API server (it removes a label that is never set, so the objects are unchanged apart from an
 * empty `labels` it adds, which is dropped here).
 */
export function renderOverlay(overlay: Overlay): RenderedObject[] {
  const dir = join(repoRoot, 'deploy', 'kubernetes', 'overlays', overlay);
  const yaml = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
  const json = execFileSync('kubectl', ['label', '--local', '-f', '-', '-o', 'json', 'asc.dev/not-a-label-'], {
    input: yaml,
    encoding: 'utf8',
    maxBuffer: 32 * 1024 * 1024,
  });
  return splitJsonStream(json).map((o) => {
    const object = o as RenderedObject;
    if (object.metadata.labels && Object.keys(object.metadata.labels).length === 0) delete object.metadata.labels;
    return object;
  });
}

export function podSpecOf(object: RenderedObject): IIoK8sApiCoreV1PodSpec | undefined {
  const spec = object.spec as { template?: { spec?: IIoK8sApiCoreV1PodSpec } } | undefined;
  return spec?.template?.spec;
}

export function allContainers(pod: IIoK8sApiCoreV1PodSpec): IIoK8sApiCoreV1Container[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}

/** A container's environment as the kubelet would build it: envFrom ConfigMaps first, then env. */
export function containerEnv(
  container: IIoK8sApiCoreV1Container,
  objects: RenderedObject[],
  secretValue: (secret: string, key: string) => string,
): Record<string, string> {
  const configMap = (name: string) => {
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name);
    if (!cm) throw new Error(`${container.name}: ConfigMap ${name} is referenced but not rendered`);
    return (cm.data ?? {}) as Record<string, string>;
  };
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, configMap(from.configMapRef.name as string));
    if (from.secretRef) throw new Error(`${container.name}: envFrom a whole Secret hides which variables it sets; use secretKeyRef`);
  }
  for (const v of container.env ?? ([] as IIoK8sApiCoreV1EnvVar[])) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.secretKeyRef) env[v.name] = secretValue(v.valueFrom.secretKeyRef.name as string, v.valueFrom.secretKeyRef.key);
    else if (v.valueFrom?.configMapKeyRef) {
      const value = configMap(v.valueFrom.configMapKeyRef.name as string)[v.valueFrom.configMapKeyRef.key];
      if (value === undefined) throw new Error(`${container.name}: ${v.name} names a missing ConfigMap key`);
      env[v.name] = value;
    } else env[v.name] = '';
  }
  return env;
}
