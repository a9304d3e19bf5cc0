import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { cpuBetween, cpuByPid } from './process-cpu';

const linux = process.platform === 'linux';

describe('CPU time of a group of processes over a window (the bench\'s per-process figures)', () => {
  it('counts a process that started inside the window from zero and leaves out one that exited', () => {
    const start = new Map([
      [10, 100],
      [11, 50],
    ]);
    const end = new Map([
      [10, 130], // ran 30 ms in the window
      [12, 20], // started in the window (e.g. a Postgres backend for a reopened connection): all 20 ms count
    ]); // 11 exited: its time in the window cannot be read any more
    assert.equal(cpuBetween(start, end), 50);
  });

  it('reads the CPU time a real child process burns after the window opened', { skip: !linux && 'reads /proc' }, async () => {
    const start = cpuByPid([process.pid]);
    assert.ok(start);
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 300); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      const pid = child.pid;
      assert.ok(pid);
      await new Promise((r) => setTimeout(r, 600));
      const end = cpuByPid([process.pid, pid]);
      assert.ok(end && end.has(pid));
      // The child's busy loop (300 ms) is counted although the child did not exist at the start.
      assert.ok(cpuBetween(start, end) - ((end.get(process.pid) ?? 0) - (start.get(process.pid) ?? 0)) >= 200);
    } finally {
      child.kill();
      await once(child, 'exit');
    }
  });
});
