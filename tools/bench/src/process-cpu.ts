import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const USER_HZ = 100;

/**
 * CPU time (user + system, all threads) used so far by the given processes, in ms, from
 * /proc/<pid>/stat. Unlike throughput on a shared machine, CPU per request does not depend on
 * what else runs: it is the load-independent measure of a gateway's cost. 10 ms resolution.
 * Processes that are gone count 0; undefined where /proc does not exist (not Linux).
 */
export function cpuMs(pids: number[]): number | undefined {
  const byPid = cpuByPid(pids);
  if (byPid === undefined) return undefined;
  let ms = 0;
  for (const v of byPid.values()) ms += v;
  return ms;
}

/**
 * CPU time so far (ms) of each of the given processes that is still there; undefined where
 * /proc does not exist (not Linux).
 */
export function cpuByPid(pids: number[]): Map<number, number> | undefined {
  const out = new Map<number, number>();
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      if (process.platform !== 'linux') return undefined;
      continue;
    }
    // Fields after the command name (which may hold spaces) start at state (field 3); utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ);
  }
  return out;
}

/**
 * CPU time (ms) spent between two cpuByPid readings by the processes of the second: one
 * that started in between counts from zero (e.g. a Postgres backend forked for a new
 * connection), one that exited in between is not counted (its last reading is gone).
 */
export function cpuBetween(start: Map<number, number>, end: Map<number, number>): number {
  let ms = 0;
  for (const [pid, v] of end) ms += v - (start.get(pid) ?? 0);
  return ms;
}

/** Busy CPU time of the whole machine so far (every core, every process, kernel included), in ms, from /proc/stat. */
export function machineCpuMs(): number | undefined {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  } catch {
    return undefined;
  }
  // cpu user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
  const t = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = t.reduce((a, b) => a + b, 0) - (t[3] ?? 0) - (t[4] ?? 0);
  return (busy * 1000) / USER_HZ;
}

/** The pids of the processes whose command line matches `pattern` (e.g. the Kafka broker's java), now. */
export function pidsMatching(pattern: RegExp): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    try {
      return pattern.test(readFileSync(`/proc/${e}/cmdline`, 'utf8').replaceAll('\0', ' ')) ? [Number(e)] : [];
    } catch {
      return [];
    }
  });
}
