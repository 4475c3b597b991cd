import { ZtpError } from '../shared/errors.js';
import { EXIT_OK, firstLine, printable, UsageError, type ZtpIo } from './io.js';
import { locateLocalStack, type StackEndpoints } from './stack-endpoints.js';

/**
 * Where the commands that call the app's HTTP API (`ztp reprovision`, `ztp redrive`) send their
 * request: `--url` (the app's origin), otherwise the running local stack's API, found through
 * the `.local/stack.json` it publishes. How they send it, and how they show what comes back.
 */

/** Nothing was sent, or nothing came back: exit 2 with one line. */
export class NotSentError extends ZtpError {}

/** How long a command waits for the app's answer. */
const REQUEST_TIMEOUT_MS = 15_000;

/** The app answered, but not with 202. */
const EXIT_NOT_ACCEPTED = 1;

export interface Target {
  /** The API base, ending in /api. */
  readonly apiBaseUrl: string;
  /** For a local stack, what to suggest when it does not answer. */
  readonly hint: string;
  /** The local stack found, and whether the request goes to it (no --url, or --url its origin). */
  readonly stack?: { readonly path: string; readonly endpoints: StackEndpoints; readonly isTarget: boolean };
}

export async function resolveTarget(url: string | undefined, io: ZtpIo): Promise<Target> {
  if (url !== undefined) {
    const apiBaseUrl = apiBase(url);
    // Only to know whether --url is the local stack, whose secret may then sign: a damaged file is no reason to fail.
    const found = (await locateLocalStack(io.env, io.cwd).catch(() => undefined))?.found;
    if (found === undefined) return { apiBaseUrl, hint: '' };
    const isTarget = sameApi(found.endpoints.apiBaseUrl, apiBaseUrl);
    return { apiBaseUrl, hint: isTarget ? stackHint(found.path) : '', stack: { ...found, isTarget } };
  }
  const { found, searched } = await locateLocalStack(io.env, io.cwd);
  if (found !== undefined) {
    return { apiBaseUrl: found.endpoints.apiBaseUrl.replace(/\/+$/, ''), hint: stackHint(found.path), stack: { ...found, isTarget: true } };
  }
  throw new NotSentError(
    `no --url given and no running local stack was found (no ${searched}): ` +
      "pass --url with the app's origin, or start the local stack with `npm start`",
  );
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

/**
 * A device's route under the API base: always the query form (`devices/redrive?serial=…`), which
 * carries every serial the intake accepts; the path form cannot carry a `/` in Azure, nor a `.`
 * or `..` (README, "Serial addressing").
 */
export function deviceRoute(route: 'reprovision' | 'redrive', serial: string): string {
  return `devices/${route}?serial=${encodeURIComponent(serial)}`;
}

export interface AppPost {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  readonly timeoutMs?: number;
  /** What to do when no answer comes, said after "no answer from <url> (why)". */
  readonly ifNoAnswer: string;
  /** `--json`: one line `{status, ...jsonFields, body}` instead of the readable answer. */
  readonly json: boolean;
  readonly jsonFields?: Readonly<Record<string, unknown>>;
  /** A line to print after the readable answer, for some statuses. */
  readonly advice?: (status: number) => string | undefined;
}

/**
 * One POST to the app and its answer printed: the status line and the body (JSON indented, text
 * as it came), or with `json` one line of JSON. Exit 0 on 202, 1 on any other answer; no answer
 * at all is a NotSentError (exit 2).
 */
export async function postToApp(io: ZtpIo, target: Target, post: AppPost): Promise<number> {
  const timeoutMs = post.timeoutMs ?? REQUEST_TIMEOUT_MS;
  let response: Response;
  let text: string;
  try {
    response = await fetch(post.url, {
      method: 'POST',
      headers: post.headers,
      body: post.body,
      // A redirect would turn the POST into a GET or send it elsewhere: show it instead.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    throw new NotSentError(
      `no answer from ${printable(post.url)} (${describeFetchError(error, timeoutMs)})${target.hint}; ${post.ifNoAnswer}`,
    );
  }

  const { status, statusText } = response;
  const body = parseAnswer(text);
  if (post.json) {
    io.stdout(`${JSON.stringify({ status, ...post.jsonFields, body })}\n`);
  } else {
    const lines = [`${status}${statusText ? ` ${printable(statusText)}` : ''} from POST ${printable(post.url)}`];
    if (body !== null) lines.push(typeof body === 'string' ? printable(body) : JSON.stringify(body, null, 2));
    const advice = post.advice?.(status);
    if (advice !== undefined) lines.push(advice);
    io.stdout(`${lines.join('\n')}\n`);
  }
  return status === 202 ? EXIT_OK : EXIT_NOT_ACCEPTED;
}

export function parseAnswer(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text.length > 4000 ? `${text.slice(0, 4000)}…` : text;
  }
}

export function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `none within ${timeoutMs / 1000} s`;
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return firstLine(new Error(cause.message));
  return firstLine(error);
}
