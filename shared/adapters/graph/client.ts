import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { Client } from '@microsoft/microsoft-graph-client';
import { autopilotIdentityOperations } from './autopilot-identities.js';
import type { RequestBudget } from './budget.js';
import { callOf, createSend } from './call.js';
import { importedIdentityOperations } from './imported-identities.js';
import { managedDeviceOperations } from './managed-devices.js';
import { createPaging } from './paging.js';
import type { GraphClientSettings, GraphSettings } from './settings.js';
import { BearerTokenMiddleware, credentialTokenSource, NodeHttpTransport, staticTokenSource } from './transport.js';
import type { GraphClient } from './graph-client.js';

export interface GraphClientOptions extends GraphClientSettings {
  /** Azure credential for real Graph (tokens for `tokenScope`). Exactly one of staticToken / credential. */
  credential?: TokenCredential;
  /** Checked before every request; shared by all instances in production (see createTableBudget). */
  budget: RequestBudget;
  /** PEM of an extra CA to trust (a simulator's self-signed certificate over https). */
  caCertPem?: string;
}

export function createGraphClient(options: GraphClientOptions): GraphClient {
  if ((options.staticToken === undefined) === (options.credential === undefined)) {
    throw new Error('createGraphClient: give exactly one of staticToken or credential');
  }
  if (options.credential !== undefined && options.tokenScope === undefined) {
    throw new Error('createGraphClient: a credential needs the tokenScope to ask it for');
  }
  if (options.importChunkSize < 1) throw new RangeError('importChunkSize must be at least 1');
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const origin = new URL(baseUrl).origin;
  const tokens =
    options.staticToken !== undefined
      ? staticTokenSource(options.staticToken)
      : credentialTokenSource(options.credential as TokenCredential, options.tokenScope as string);
  const transport = new NodeHttpTransport({ timeoutMs: options.requestTimeoutMs, caCertPem: options.caCertPem });
  const graph = Client.initWithMiddleware({
    baseUrl,
    defaultVersion: 'v1.0',
    middleware: [new BearerTokenMiddleware(origin, tokens), transport],
  });
  const send = createSend(graph, options.budget, options.defaultRetryAfterMs);
  const call = callOf(send);
  const paging = createPaging(call, origin, options);
  return {
    ...importedIdentityOperations(send, paging, options.importChunkSize),
    ...autopilotIdentityOperations(call, paging, { budget: options.budget, send, intervalMs: options.syncIntervalMs }),
    ...managedDeviceOperations(call, paging),
    close: () => transport.close(),
  };
}

/**
 * The client the app uses: the static token when configured (simulators), otherwise the given
 * credential or DefaultAzureCredential (managed identity in Azure).
 */
export function createGraphClientFromSettings(settings: GraphSettings, budget: RequestBudget, credential?: TokenCredential): GraphClient {
  const auth = settings.staticToken !== undefined ? {} : { credential: credential ?? new DefaultAzureCredential() };
  return createGraphClient({ ...settings, ...auth, budget });
}
