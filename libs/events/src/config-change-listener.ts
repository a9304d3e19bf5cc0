import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSubscriber, Subscription } from './event-bus.port';
import { ConfigChangedV1, TOPIC_CONTROL_CONFIG_V1 } from './event-map';

/** The consumer groups of config-change listeners start with this, then the service name. */
export const CONFIG_LISTENER_GROUP_PREFIX = 'asc-cache-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A stable identity for this process among the instances of `service` on this host: slot 0
 * for the first one running, 1 for a second one, … held by a lock file with the owner's pid
 * (a dead owner's slot is taken over). A restarted process gets its slot back, so its
 * consumer group is the same as before instead of a new one per start.
 */
export function instanceSlot(service: string, lockDir = join(tmpdir(), 'asc-instance-locks')): { slot: number; release: () => void } {
  mkdirSync(lockDir, { recursive: true });
  for (let slot = 0; slot < 1000; slot++) {
    const path = join(lockDir, `${service}-${slot}.lock`);
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return { slot, release: () => rmSync(path, { force: true }) };
    } catch {
      const owner = Number(readFileSync(path, 'utf8').trim()) || 0;
      if (owner === process.pid || (owner > 0 && alive(owner))) continue;
      rmSync(path, { force: true }); // left by a process that is gone
      slot--; // try the same slot again
    }
  }
  throw new Error(`no free instance slot for ${service}`);
}

/**
 * The consumer group of one service instance's config listener: `ASC_INSTANCE_ID` when set
 * (e.g. the pod name of a StatefulSet), else host name + a per-host slot. Stable across
 * restarts, distinct between instances running at the same time (each must see every change).
 */
export function configListenerGroup(service: string, instanceId: string): string {
  return `${CONFIG_LISTENER_GROUP_PREFIX}${service}-${instanceId}`;
}

/**
 * Subscribes one process to every configuration change, in a consumer group of its own
 * instance (each replica must see each change), starting from now: caches only need what
 * happens after they were filled. Groups of instances that are gone (no member left) are
 * deleted in the background, so groups do not pile up.
 */
export async function listenToConfigChanges(
  subscriber: EventSubscriber,
  service: string,
  apply: (change: ConfigChangedV1) => void,
  options: { instanceId?: string } = {},
): Promise<Subscription> {
  let instanceId = options.instanceId ?? process.env.ASC_INSTANCE_ID;
  let release = () => undefined as void;
  if (!instanceId) {
    const held = instanceSlot(service);
    instanceId = `${hostname()}-${held.slot}`;
    release = held.release;
  }
  const subscription = await subscriber.subscribe({
    groupId: configListenerGroup(service, instanceId),
    topics: [TOPIC_CONTROL_CONFIG_V1],
    fromBeginning: false,
    // Its handler only drops cache entries: a short session lets a restarted instance (same
    // group) join without waiting long for its dead predecessor to be dropped.
    sessionTimeoutMs: 10_000,
    handleBatch: async (changes) => {
      for (const change of changes) apply(change.data);
    },
  });
  // Best effort: a failure here only leaves idle groups for the next start to clean.
  void subscriber.deleteIdleGroups?.(`${CONFIG_LISTENER_GROUP_PREFIX}${service}-`).catch(() => undefined);
  return {
    stats: () => subscription.stats(),
    stop: async () => {
      await subscription.stop();
      release();
    },
  };
}
