import { parseArgs } from 'node:util';

/** The webhook benchmark's command line, checked. */

export interface WebhookOptions {
  /** Requests per measured run (a multiple of 10: seven accepts, one repeat, one bad signature, one replay in every ten). */
  requests: number;
  /** Requests in flight at once in the concurrent run. */
  concurrency: number;
  /** Simulated seconds per real second, for the simulator and ZTP_TIME_SCALE alike. */
  scale: number;
  /** How long to wait, after a run, for its accepted requests to take effect (real ms). */
  settleTimeoutMs: number;
}

export function readOptions(): WebhookOptions {
  const { values: flags } = parseArgs({
    options: {
      requests: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '8' },
      scale: { type: 'string', default: '60' },
      'settle-timeout-seconds': { type: 'string', default: '180' },
    },
  });
  const requests = Number(flags.requests);
  const concurrency = Number(flags.concurrency);
  const scale = Number(flags.scale);
  const settle = Number(flags['settle-timeout-seconds']);
  if (!Number.isInteger(requests) || requests <= 0 || requests % 10 !== 0) throw new Error('--requests must be a positive multiple of 10');
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('--concurrency must be a positive integer');
  if (!(scale > 0)) throw new Error('--scale must be positive');
  if (!(settle > 0)) throw new Error('--settle-timeout-seconds must be positive');
  return { requests, concurrency, scale, settleTimeoutMs: settle * 1000 };
}
