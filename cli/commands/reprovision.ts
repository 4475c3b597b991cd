import { REPROVISION_ACTIONS, type ReprovisionAction } from '../../shared/domain/lifecycle.js';
import { randomUUID } from 'node:crypto';
import { ZtpError } from '../../shared/errors.js';
import { signStandardWebhooks, signZtp, webhookKeys, type SignatureScheme } from '../../shared/http/webhook-signature.js';
import { onePositional, parseCommandArgs, runCommand, wantsHelp } from '../args.js';
import { EXIT_OK, firstLine, printable, UsageError, type ZtpIo } from '../io.js';
import { locateStackEndpoints, type StackEndpoints } from '../stack-endpoints.js';

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

/** The app answered, but not with 202. */
export const EXIT_NOT_ACCEPTED = 1;
export const REQUEST_TIMEOUT_MS = 15_000;

export interface ReprovisionBody {
  readonly action: ReprovisionAction;
  readonly ticket: string;
  readonly requestedBy: string;
  readonly groupTag?: string;
  readonly allowReimport?: true;
}

/** Nothing was sent, or nothing came back: exit 2 with one line. */
class NotSentError extends ZtpError {}

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
    const url = `${target.apiBaseUrl}/devices/${encodeURIComponent(serial)}/reprovision`;
    const json = values.json === true;
    if (givenKey === undefined && !json) {
      io.stdout(`Idempotency-Key: ${idempotencyKey} (new; to retry this request, pass --idempotency-key ${idempotencyKey})\n`);
    }

    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = scheme === 'ztp' ? signZtp(key, bytes, timestamp) : signStandardWebhooks(key, idempotencyKey, bytes, timestamp);
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;

    let status: number;
    let statusText: string;
    let text: string;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey, ...signature },
        body: bytes,
        // A redirect would turn the POST into a GET or send it elsewhere: show it instead.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      statusText = response.statusText;
      text = await response.text();
    } catch (error) {
      throw new NotSentError(
        `no answer from ${printable(url)} (${describeFetchError(error, timeoutMs)})${target.hint}; ` +
          `retry with --idempotency-key ${idempotencyKey} so the app sees the same request`,
      );
    }

    const answer = parseAnswer(text);
    if (json) {
      io.stdout(`${JSON.stringify({ status, idempotencyKey, body: answer })}\n`);
    } else {
      const lines = [`${status}${statusText ? ` ${printable(statusText)}` : ''} from POST ${printable(url)}`];
      if (answer !== null) lines.push(typeof answer === 'string' ? printable(answer) : JSON.stringify(answer, null, 2));
      if (status >= 500) lines.push(`The app failed: retry with --idempotency-key ${idempotencyKey} (a repeat is answered once).`);
      io.stdout(`${lines.join('\n')}\n`);
    }
    return status === 202 ? EXIT_OK : EXIT_NOT_ACCEPTED;
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

interface Target {
  /** The API base, ending in /api. */
  readonly apiBaseUrl: string;
  /** For a local stack, what to suggest when it does not answer. */
  readonly hint: string;
  /** The local stack found, and whether the request goes to it (no --url, or --url its origin). */
  readonly stack?: { readonly path: string; readonly endpoints: StackEndpoints; readonly isTarget: boolean };
}

async function resolveTarget(url: string | undefined, io: ZtpIo): Promise<Target> {
  const roots = [io.env.ZTP_LOCAL_ROOT?.trim(), io.cwd].filter((root): root is string => root !== undefined && root !== '');
  if (url !== undefined) {
    const apiBaseUrl = apiBase(url);
    // Only to know whether --url is the local stack, whose secret may then sign: a damaged file is no reason to fail.
    const found = await findStack(roots).catch(() => undefined);
    if (found === undefined) return { apiBaseUrl, hint: '' };
    const isTarget = sameApi(found.endpoints.apiBaseUrl, apiBaseUrl);
    return { apiBaseUrl, hint: isTarget ? stackHint(found.path) : '', stack: { ...found, isTarget } };
  }
  const found = await findStack(roots);
  if (found !== undefined) {
    return { apiBaseUrl: found.endpoints.apiBaseUrl.replace(/\/+$/, ''), hint: stackHint(found.path), stack: { ...found, isTarget: true } };
  }
  throw new NotSentError(
    `no --url given and no running local stack was found (no .local/stack.json in ${roots.join(' or ')} or above): ` +
      "pass --url with the app's origin, or start the local stack with `npm start`",
  );
}

async function findStack(roots: readonly string[]): Promise<{ path: string; endpoints: StackEndpoints } | undefined> {
  for (const root of roots) {
    const found = await locateStackEndpoints(root);
    if (found !== undefined) return found;
  }
  return undefined;
}

const stackHint = (path: string): string => `; is the local stack of ${path} still running?`;

/** Whether the stack's published API base and the one --url names are the same (scheme, host, port and path). */
function sameApi(published: string, requested: string): boolean {
  try {
    return apiBase(published) === requested;
  } catch {
    return false;
  }
}

/** `--url` is the app's origin (a path prefix is kept); one that already ends in /api is taken as the API base. */
function apiBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new UsageError(`--url "${printable(url)}" is not an absolute URL (e.g. http://127.0.0.1:7071)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError('--url must be an http or https URL');
  if (parsed.search !== '' || parsed.hash !== '') throw new UsageError('--url takes the origin only, without a query or fragment');
  const path = parsed.pathname.replace(/\/+$/, '');
  return `${parsed.origin}${/\/api$/.test(path) ? path : `${path}/api`}`;
}

function parseAnswer(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text.length > 4000 ? `${text.slice(0, 4000)}…` : text;
  }
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `none within ${timeoutMs / 1000} s`;
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return firstLine(new Error(cause.message));
  return firstLine(error);
}
