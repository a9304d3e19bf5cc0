import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const USER_HZ = 100;

/**
 * CPU time (user + system, all threads) used so far by the given processes, in ms, from
 * /proc/<pid>/stat. Unlike throughput on a shared machine, CPU per request does not depend on
 * what else runs: it is the load-independent measure of a gateway's cost. 10 ms resolution.
 * Processes that are gone count 0; undefined where /proc does not exist (not Linux).
 */
export function cpuMs(pids: number[]): number | undefined {
  let ticks = 0;
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
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / USER_HZ;
}
