/**
 * CPU time used by a server process (all its threads: fsync pools, GC, I/O threads), from
 * /proc/<pid>/stat. On a shared machine throughput moves with other load; the CPU a server
 * spends per event moves much less, so it is kept beside every figure (`cpuUsPerOp`) to compare
 * how much work each system does, not only how fast it went.
 */
import { readFileSync } from 'node:fs';

/** /proc reports utime and stime in clock ticks of USER_HZ, which Linux fixes at 100 per second. */
const TICKS_PER_SECOND = 100;

/** Milliseconds of CPU used so far by process `pid`, or null where /proc cannot say (not Linux, gone). */
export function processCpuMs(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}
