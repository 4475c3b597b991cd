import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LATENCIES, DEFAULT_THROTTLE } from '../../local/graph-simulator/index.js';
import type { Floor } from './floor.js';
import { fixed, int, log } from './format.js';
import { describeLoad, type MachineState } from './machine.js';
import type { PipelineOptions } from './options.js';
import type { AppliedBudget } from './settings.js';

/** What the figures were measured on: machine, code, workload, clock, simulator and settings. */

/** The commit measured, and any uncommitted product code (the figures are for that code). */
export function codeVersion(): string {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: fileURLToPath(new URL('../../', import.meta.url)), encoding: 'utf8' });
    // Not trimmed: each porcelain line starts with its two status columns, the first often a space.
    const dirty = git('status', '--porcelain', '--', 'functions', 'shared', 'local')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(3));
    return `${git('rev-parse', '--short', 'HEAD').trim()}${dirty.length > 0 ? ` with uncommitted changes to ${dirty.join(', ')}` : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export function printHeader(options: PipelineOptions, floor: Floor, budget: AppliedBudget, machine: MachineState): void {
  log('Pipeline benchmark');
  log(`  command   ${options.commandLine}`);
  log(`  date      ${new Date().toISOString()}`);
  log(
    `  machine   ${machine.cpuModel}, ${machine.cores} cores (nproc), ${fixed(machine.totalGib, 1)} GiB RAM, ${os.platform()} ${os.release()}`,
  );
  log(`  at start  ${describeLoad(machine)}`);
  log(`  node      ${process.version}`);
  log(`  code      ${codeVersion()}`);
  log(
    `  workload  ${int(options.devices)} devices in ${options.files} files of ${int(options.rowsPerFile)} rows, every row tagged MPS-STD or MPS-KIOSK`,
  );
  log(
    `  product   ${options.instances} process${options.instances === 1 ? '' : 'es'} (compiled JavaScript) on one Azurite, broker and simulator${
      options.instances > 1 ? `; file k to instance k mod ${options.instances}, timers on instance 0` : ''
    }`,
  );
  log(`  clock     ${options.scale}× (simulator and ZTP_TIME_SCALE): 1 real ms = ${fixed(options.scale / 1000, 3)} simulated s`);
  log(
    `  Graph     simulator defaults: import ${String(DEFAULT_LATENCIES.importSeconds)} s, group ${String(DEFAULT_LATENCIES.groupMembershipSeconds)} s, profile ${String(DEFAULT_LATENCIES.profileAssignmentSeconds)} s, enrolment ${String(DEFAULT_LATENCIES.enrolmentSeconds)} s;`,
  );
  log(
    `            limits ${DEFAULT_THROTTLE.writesPer20s} writes / ${DEFAULT_THROTTLE.requestsPer20s} requests per ${DEFAULT_THROTTLE.windowSeconds} simulated s`,
  );
  const { limits, graphLimits } = budget;
  log(
    `  budget    the app's, from its settings: Graph's ${graphLimits.writesPerWindow} writes / ${graphLimits.requestsPerWindow} requests per ${fixed(limits.windowMs / 1000, 0)} s, of which it grants ${limits.writesPerWindow} / ${limits.requestsPerWindow}` +
      ` in any ${fixed(budget.spanMs / 1000, 1)} simulated s; shares ${Object.entries(limits.shares)
        .map(([priority, share]) => `${priority} ${share}`)
        .join(', ')}`,
  );
  if (options.untilRegistered) log('  stop      the product run ends when every device is registered');
  else if (options.untilEnrolled)
    log('  stop      the product run ends when every device is enrolled (the clean-up left is counted, not waited for)');
  log(
    `  settings  app settings at their defaults${
      Object.keys(options.overrides).length > 0
        ? ` except ${Object.entries(options.overrides)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`
        : ''
    }`,
  );
  if (options.nodeArgs.length > 0) log(`  node args ${options.nodeArgs.join(' ')} (each product process)`);
  log(`  floor     registered ${int(floor.registeredSeconds)} s, enrolled ${int(floor.enrolledSeconds)} s (simulated)`);
  log('');
}
