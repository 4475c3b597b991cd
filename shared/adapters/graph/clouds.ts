/**
 * Where Microsoft Graph is, and what a simulator's host looks like. Pure: the config module
 * reads it to decide which settings a Graph host allows, without loading an SDK.
 *
 * Graph's service root in each national cloud (https://learn.microsoft.com/graph/deployments,
 * "Microsoft Graph and Graph Explorer service root endpoints"); an app-only token is asked for
 * with the `.default` scope on that same host, and a token of one cloud is not accepted by
 * another (https://learn.microsoft.com/graph/sdks/national-clouds, "Permission scopes").
 */
export const MICROSOFT_GRAPH_CLOUDS = [
  { cloud: 'global', host: 'graph.microsoft.com' },
  { cloud: 'US Government L4', host: 'graph.microsoft.us' },
  { cloud: 'US Government L5 (DoD)', host: 'dod-graph.microsoft.us' },
  { cloud: 'China (21Vianet)', host: 'microsoftgraph.chinacloudapi.cn' },
] as const;

export type MicrosoftGraphCloud = (typeof MICROSOFT_GRAPH_CLOUDS)[number];

/**
 * A host name as compared here: lower case, without the trailing dot of a fully qualified
 * name and without the brackets of an IPv6 literal (`URL.hostname` keeps both).
 */
export function normalisedHost(hostname: string): string {
  const lower = hostname.toLowerCase().replace(/\.+$/, '');
  return lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
}

/** The host of an absolute URL, normalised. */
export function hostOf(url: string): string {
  return normalisedHost(new URL(url).hostname);
}

/**
 * Whether a normalised host can only be this machine: `localhost` and its subdomains
 * (RFC 6761), 127.0.0.0/8, `::1` and IPv4-mapped 127.0.0.0/8. Hosts come from the WHATWG URL
 * parser, which has already written IPv4 in dotted decimal (`127.1` is `127.0.0.1`) and IPv6
 * in its shortest form.
 */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  return host === '::1' || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host);
}

/** The national cloud whose Graph service root this normalised host is, if any. */
export function microsoftGraphCloudOf(host: string): MicrosoftGraphCloud | undefined {
  return MICROSOFT_GRAPH_CLOUDS.find((cloud) => cloud.host === host);
}

/** Whether this normalised host is Microsoft Graph's, or under it (`canary.graph.microsoft.com`). */
export function isMicrosoftGraphHost(host: string): boolean {
  return MICROSOFT_GRAPH_CLOUDS.some((cloud) => host === cloud.host || host.endsWith(`.${cloud.host}`));
}

/** The app-only scope for a cloud's Graph. */
export function graphTokenScopeOf(cloud: MicrosoftGraphCloud): string {
  return `https://${cloud.host}/.default`;
}
