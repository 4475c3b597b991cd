import { runBaseline, type BaselineRun } from './baseline.js';
import { log } from './format.js';
import { printHeader } from './header.js';
import { readOptions } from './options.js';
import { runProduct } from './product-run.js';
import { report } from './report.js';
import { simulatorFloor } from './simulator.js';
import { buildWorkload } from './workload.js';

/**
 * The pipeline benchmark: 10,000 devices in 20 supplier files through the whole product
 * (intake, import, follow-ups) against the Graph simulator with its default latencies and
 * the documented per-app limits, all on a sped-up clock; then the same devices through a
 * client that works like Import-AutopilotCSV, on a fresh simulator. Prints Graph requests per
 * device by kind, 429s, and the time to all registered / enrolled against the floor the
 * simulator imposes. See README.md, "bench/pipeline".
 */

const options = readOptions();
const workload = buildWorkload(options.files, options.devices / options.files);
const floor = simulatorFloor(workload.devices.length);
printHeader(options, floor);

log('Product run');
const product = await runProduct(options, workload);
let baseline: BaselineRun | undefined;
if (!options.skipBaseline) {
  log('');
  log('Baseline run (Import-AutopilotCSV)');
  baseline = await runBaseline(options, workload);
}
report(options, workload, floor, product, baseline);
