import { REPROVISION_ACTIONS, type ReprovisionAction } from '../../shared/domain/lifecycle.js';
import { randomUUID } from 'node:crypto';
import { signStandardWebhooks, signZtp, webhookKeys, type SignatureScheme } from '../../shared/http/webhook-signature.js';
import { deviceRoute, NotSentError, postToApp, resolveTarget, type Target } from '../app-api.js';
import { onePositional, parseCommandArgs, runCommand, wantsHelp } from '../args.js';
import { EXIT_OK, firstLine, printable, UsageError, type ZtpIo } from '../io.js';

/**
 * `ztp reprovision <serial> --action <a> --ticket <t> --requested-by <who> ...`: one signed
 * request to the re-provisioning webhook, exactly as a ticketing tool should send it — the
 * reference client for whoever wires one up. Prints the answer; exit 0 when it is 202, 1 for
 * any other answer, 2 when nothing could be sent or no answer came.
 */

export const REPROVISION_USAGE = `Usage: ztp reprovision <serial> --action <action> --ticket <ticket> --requested-by <who>
         [--group-tag <tag>] [--allow-reimport] [--url <origin>] [--idempotency-key <key>]
         [--scheme ztp|standard-webhooks] [--json]

  --action           autopilot-reset, wipe, fresh-start, retag (with --group-tag) or deregister
  --allow-reimport   deregister only
  --url              the app's origin, e.g. https://<app>.azurewebsites.net (default: the running local stack)
  --idempotency-key  the key of an earlier attempt, to retry it (default: a new one, printed)
  --scheme           ztp (X-Ztp-Signature, the default) or standard-webhooks (webhook-id is the idempotency key)
  --json             print {"status", "idempotencyKey", "body"} as one line of JSON

Signs with the first secret in REPROVISION_WEBHOOK_SECRET; without it, against the local stack
(no --url, or --url its origin), with the secret the stack publishes in .local/stack.json.
Exit 0 accepted (202); 1 any other answer; 2 usage errors, no secret, or no answer.
`;

export interface ReprovisionBody {
  readonly action: ReprovisionAction;
  readonly ticket: string;
  readonly requestedBy: string;
  readonly groupTag?: string;
  readonly allowReimport?: true;
}

const SCHEMES: readonly SignatureScheme[] = ['ztp', 'standard-webhooks'];
/** Visible ASCII: the key goes into a header and, with Standard Webhooks, into what is signed. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,256}$/;

export async function runReprovision(argv: string[], io: ZtpIo, options: { readonly timeoutMs?: number } = {}): Promise<number> {
  return runCommand('reprovision', REPROVISION_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, {
      action: { type: 'string' },
      ticket: { type: 'string' },
      'requested-by': { type: 'string' },
      'group-tag': { type: 'string' },
      'allow-reimport': { type: 'boolean', default: false },
      url: { type: 'string' },
      'idempotency-key': { type: 'string' },
      scheme: { type: 'string', default: 'ztp' },
      json: { type: 'boolean', default: false },
    });
    if (wantsHelp(values, REPROVISION_USAGE, io)) return EXIT_OK;
    const serial = onePositional(positionals, 'serial number');
    const body = reprovisionBody({
      action: values.action,
      ticket: values.ticket,
      requestedBy: values['requested-by'],
      groupTag: values['group-tag'],
      allowReimport: values['allow-reimport'] === true,
    });
    const scheme = schemeOf(values.scheme);
    const givenKey = values['idempotency-key'];
    if (givenKey !== undefined && !IDEMPOTENCY_KEY.test(givenKey)) {
      throw new UsageError('--idempotency-key must be 1-256 visible ASCII characters');
    }
    const idempotencyKey = givenKey ?? randomUUID();

    const target = await resolveTarget(values.url, io);
    const key = signingKey(io.env, target);
    const json = values.json === true;
    if (givenKey === undefined && !json) {
      io.stdout(`Idempotency-Key: ${idempotencyKey} (new; to retry this request, pass --idempotency-key ${idempotencyKey})\n`);
    }

    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = scheme === 'ztp' ? signZtp(key, bytes, timestamp) : signStandardWebhooks(key, idempotencyKey, bytes, timestamp);
    return postToApp(io, target, {
      url: `${target.apiBaseUrl}/${deviceRoute('reprovision', serial)}`,
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey, ...signature },
      body: bytes,
      timeoutMs: options.timeoutMs,
      ifNoAnswer: `retry with --idempotency-key ${idempotencyKey} so the app sees the same request`,
      json,
      jsonFields: { idempotencyKey },
      advice: (status) =>
        status >= 500 ? `The app failed: retry with --idempotency-key ${idempotencyKey} (a repeat is answered once).` : undefined,
    });
  });
}

/** The request body with only the fields given, checked as far as the command line can. */
export function reprovisionBody(given: {
  action: string | undefined;
  ticket: string | undefined;
  requestedBy: string | undefined;
  groupTag: string | undefined;
  allowReimport: boolean;
}): ReprovisionBody {
  if (given.action === undefined) throw new UsageError(`--action <action> is required (${REPROVISION_ACTIONS.join(', ')})`);
  const action = REPROVISION_ACTIONS.find((known) => known === given.action);
  if (action === undefined) {
    throw new UsageError(`"${printable(given.action)}" is not an action: use one of ${REPROVISION_ACTIONS.join(', ')}`);
  }
  const ticket = requiredText(given.ticket, '--ticket <ticket>');
  const requestedBy = requiredText(given.requestedBy, '--requested-by <who>');
  const groupTag = given.groupTag === undefined ? undefined : requiredText(given.groupTag, '--group-tag <tag>');
  if (action === 'retag' && groupTag === undefined) throw new UsageError('retag needs --group-tag <tag>: the tag the device is to get');
  if (given.allowReimport && action !== 'deregister') throw new UsageError('--allow-reimport goes with --action deregister only');
  return {
    action,
    ticket,
    requestedBy,
    ...(groupTag !== undefined ? { groupTag } : {}),
    ...(given.allowReimport ? { allowReimport: true as const } : {}),
  };
}

function requiredText(value: string | undefined, option: string): string {
  if (value === undefined) throw new UsageError(`${option} is required`);
  const trimmed = value.trim();
  if (trimmed === '') throw new UsageError(`${option.split(' ')[0]} is empty`);
  return trimmed;
}

function schemeOf(value: string | undefined): SignatureScheme {
  const scheme = SCHEMES.find((known) => known === value);
  if (scheme === undefined) throw new UsageError(`--scheme must be ztp or standard-webhooks, not "${printable(value ?? '')}"`);
  return scheme;
}

/**
 * The key to sign with: the first secret of REPROVISION_WEBHOOK_SECRET, else, when the request
 * goes to the local stack, the first of the secrets that stack publishes.
 */
function signingKey(env: ZtpIo['env'], target: Target): Buffer {
  const setting = env.REPROVISION_WEBHOOK_SECRET;
  if (setting !== undefined && setting.trim() !== '') return firstKey(setting, 'REPROVISION_WEBHOOK_SECRET');
  const stack = target.stack;
  if (stack?.endpoints.webhookSecret !== undefined && stack.isTarget) {
    return firstKey(stack.endpoints.webhookSecret, `the webhook secret in ${stack.path}`);
  }
  const why =
    stack === undefined
      ? ''
      : !stack.isTarget
        ? ` (--url is not the local stack of ${stack.path}, whose secret is used only for its own API)`
        : ` (the local stack of ${stack.path} publishes none: restart it with npm start)`;
  throw new NotSentError(
    `REPROVISION_WEBHOOK_SECRET is not set${why}: set it to the webhook secret the app has (the first of a comma-separated list signs)`,
  );
}

function firstKey(setting: string, what: string): Buffer {
  try {
    return webhookKeys(setting)[0]!;
  } catch (error) {
    throw new NotSentError(`${what} ${firstLine(error)}`);
  }
}
