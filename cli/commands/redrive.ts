import { deviceRoute, postToApp, resolveTarget } from '../app-api.js';
import { onePositional, parseCommandArgs, runCommand, wantsHelp } from '../args.js';
import { EXIT_OK, UsageError, type ZtpIo } from '../io.js';

/**
 * `ztp redrive <serial>` / `ztp redrive --batch <batchId>`: a stalled device, or every stalled
 * device of a supplier file, re-driven through the app's redrive routes. The command goes
 * through the app rather than storage (as `ztp status` does) because a re-drive of a device
 * stalled on its import asks Autopilot first and then queues work: that takes the app's Graph
 * client, budget and queues, and its log of what was done. Exit 0 when the app answers 202, 1
 * for any other answer, 2 when nothing could be sent or no answer came.
 */

export const REDRIVE_USAGE = `Usage: ztp redrive <serial> [--url <origin>] [--json]
       ztp redrive --batch <batchId> [--url <origin>] [--json]

Starts a stalled device's step again with a fresh deadline (with --batch: every stalled device
of that supplier file). A device stalled on its import is first looked for in Autopilot and
submitted again only if Autopilot never saw it; a device that is not stalled is left alone.

  --batch  a batch id (ztp upload prints it): the file's stalled devices
  --url    the app's origin, e.g. https://<app>.azurewebsites.net (default: the running local stack)
  --json   print {"status", "body"} as one line of JSON

Sends the function key in ZTP_FUNCTION_KEY when it is set (the app in Azure requires one; the
local stack does not).
Exit 0 re-driven (202); 1 any other answer (unknown, not stalled, Autopilot unavailable); 2 usage errors or no answer.
`;

export async function runRedrive(argv: string[], io: ZtpIo, options: { readonly timeoutMs?: number } = {}): Promise<number> {
  return runCommand('redrive', REDRIVE_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, {
      batch: { type: 'string' },
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (wantsHelp(values, REDRIVE_USAGE, io)) return EXIT_OK;
    const batchId = values.batch?.trim();
    if (batchId !== undefined && positionals.length > 0) throw new UsageError('give a serial number or --batch <batchId>, not both');
    if (batchId === '') throw new UsageError('--batch is empty');
    const path =
      batchId !== undefined
        ? `batches/${encodeURIComponent(batchId)}/redrive`
        : deviceRoute('redrive', onePositional(positionals, 'serial number'));

    const target = await resolveTarget(values.url, io);
    const key = io.env.ZTP_FUNCTION_KEY?.trim();
    return postToApp(io, target, {
      url: `${target.apiBaseUrl}/${path}`,
      headers: key ? { 'x-functions-key': key } : {},
      timeoutMs: options.timeoutMs,
      // A re-drive is safe to repeat: a device it already moved on is left alone the second time.
      ifNoAnswer: 'it is safe to retry',
      json: values.json === true,
      advice: (status) => (status === 401 ? 'The app wants a function key: set ZTP_FUNCTION_KEY.' : undefined),
    });
  });
}
