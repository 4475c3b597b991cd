import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fixed } from './format.js';

/**
 * What the machine was doing, printed at the start and the end of a run: the figures depend on
 * it, and on this shared machine other work comes and goes (the load average says how much).
 */

export interface MachineState {
  /** Cores this process may run on (what `nproc` prints). */
  cores: number;
  cpuModel: string;
  totalGib: number;
  /** MemAvailable (what `free` shows as available), or free memory where /proc is missing. */
  availableGib: number;
  load: [number, number, number];
}

function availableBytes(): number {
  try {
    const line = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (line?.[1]) return Number(line[1]) * 1024;
  } catch {
    // Not Linux: the OS's free figure is the nearest there is.
  }
  return os.freemem();
}

function cpuModel(): string {
  try {
    const line = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (line?.[1]) return line[1].trim();
  } catch {
    // Not Linux: os.cpus() has the same string.
  }
  return os.cpus()[0]?.model.trim() ?? 'unknown CPU';
}

export function machineState(): MachineState {
  const [one = 0, five = 0, fifteen = 0] = os.loadavg();
  return {
    cores: os.availableParallelism(),
    cpuModel: cpuModel(),
    totalGib: os.totalmem() / 1024 ** 3,
    availableGib: availableBytes() / 1024 ** 3,
    load: [one, five, fifteen],
  };
}

export const describeLoad = (state: MachineState): string =>
  `load average ${state.load.map((value) => fixed(value, 2)).join(' ')} (1, 5, 15 min), ${fixed(state.availableGib, 1)} of ${fixed(state.totalGib, 1)} GiB available`;
