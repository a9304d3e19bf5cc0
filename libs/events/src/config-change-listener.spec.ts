import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { eventually } from '@asc/testing';
import { createEvent } from './envelope';
import { silentEventBusLogger } from './event-bus.logger';
import { EVENT_CONTROL_CONFIG_CHANGED, type ConfigChangedV1 } from './event-map';
import { configListenerGroup, instanceSlot, listenToConfigChanges } from './config-change-listener';
import { MemoryEventBus } from './memory-event-bus.adapter';

const dir = mkdtempSync(join(tmpdir(), 'asc-slots-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('config listener groups', () => {
  it('gives concurrent instances distinct slots and a restarted one its old slot back', () => {
    const a = instanceSlot('svc', dir);
    // A second process on the same host holds slot 1 (simulated by a lock with a live pid: our parent).
    writeFileSync(join(dir, 'svc-1.lock'), String(process.ppid));
    const b = instanceSlot('svc', dir);
    assert.deepEqual([a.slot, b.slot], [0, 2]);
    a.release();
    assert.equal(instanceSlot('svc', dir).slot, 0, 'restart: same slot, same group');
  });

  it('takes over the slot of a process that died without releasing it', () => {
    writeFileSync(join(dir, 'dead-0.lock'), '2147483646'); // no such pid
    assert.equal(instanceSlot('dead', dir).slot, 0);
  });

  it('names one group per service instance, stable across starts', async () => {
    assert.equal(configListenerGroup('ingress', 'pod-7'), 'asc-cache-ingress-pod-7');
    const bus = new MemoryEventBus({ logger: silentEventBusLogger });
    const seen: ConfigChangedV1[] = [];
    const sub = await listenToConfigChanges(bus, 'ingress', (c) => seen.push(c), { instanceId: 'pod-7' });
    const change: ConfigChangedV1 = { tenantId: 't', kind: 'policy', entityId: 'p1', keyHash: '' };
    bus.publish(createEvent(EVENT_CONTROL_CONFIG_CHANGED, { tenantId: 't', source: 'asc/test' }, change));
    await eventually(() => assert.deepEqual(seen, [change]));
    await sub.stop();
    await bus.close();
  });
});
