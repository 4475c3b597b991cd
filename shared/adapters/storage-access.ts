import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';
import { BlobServiceClient } from '@azure/storage-blob';
import type { StorageSettings } from './storage-settings.js';
import { StorageAccessError } from '../errors.js';

/**
 * The one way the product's own clients reach its storage account: with a connection string
 * (the local stack, tests, a deployment that still uses keys), or with an identity — the
 * Functions identity-based connection (`AzureWebJobsStorage__accountName` or the three
 * `__…ServiceUri` settings, `__credential`, `__clientId`), so an account with shared-key access
 * turned off serves the product as it serves the Functions host.
 */
export class StorageAccess {
  private constructor(
    private readonly settings: StorageSettings,
    private readonly credential: TokenCredential | undefined,
  ) {}

  static from(settings: StorageSettings): StorageAccess {
    if ('connectionString' in settings) return new StorageAccess(settings, undefined);
    // As the Functions host reads `__credential` / `__clientId`: a managed identity when asked for,
    // otherwise the default chain (a developer's own sign-in, or AZURE_CLIENT_ID's identity).
    const credential =
      settings.credential === 'managedidentity'
        ? new ManagedIdentityCredential(settings.clientId ? { clientId: settings.clientId } : {})
        : new DefaultAzureCredential(settings.clientId ? { managedIdentityClientId: settings.clientId } : {});
    return new StorageAccess(settings, credential);
  }

  /** A StorageAccess as it is, or one for a connection string (local tools and tests). */
  static of(storage: StorageAccess | string): StorageAccess {
    return typeof storage === 'string' ? StorageAccess.from({ connectionString: storage }) : storage;
  }

  blobService(): BlobServiceClient {
    const { settings, credential } = this;
    return 'connectionString' in settings
      ? BlobServiceClient.fromConnectionString(settings.connectionString)
      : new BlobServiceClient(settings.blobServiceUri, credential);
  }

  table(name: string): TableClient {
    const { settings, credential } = this;
    if ('connectionString' in settings) {
      return TableClient.fromConnectionString(settings.connectionString, name, {
        allowInsecureConnection: isHttpEndpoint(settings.connectionString),
      });
    }
    return new TableClient(settings.tableServiceUri, name, credential!, {
      allowInsecureConnection: settings.tableServiceUri.startsWith('http:'),
    });
  }

  /**
   * The error start-up fails with when the first storage calls do: it names the setting and how
   * the app connects (never a key), and what the account answered.
   */
  startFailure(error: unknown): StorageAccessError {
    return new StorageAccessError(
      `Storage refused the app or did not answer at start (AzureWebJobsStorage, ${this.describe()}): ${failureReason(error)}`,
      { cause: error },
    );
  }

  private describe(): string {
    const { settings } = this;
    if ('connectionString' in settings) return 'with a connection string';
    const identity =
      settings.credential === 'managedidentity'
        ? `with the managed identity ${settings.clientId ?? '(system-assigned)'}`
        : `with the default Azure credential${settings.clientId ? ` (managed identity ${settings.clientId})` : ''}`;
    return `${identity} at ${settings.tableServiceUri}`;
  }

  queue(name: string): QueueClient {
    const { settings, credential } = this;
    return 'connectionString' in settings
      ? new QueueClient(settings.connectionString, name)
      : new QueueClient(`${settings.queueServiceUri.replace(/\/+$/, '')}/${name}`, credential);
  }
}

/**
 * What went wrong, in one line: the status and storage error code, and the detail storage gives
 * (its XML error body names, for instance, an invalid token audience), or the credential's message.
 */
function failureReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { statusCode, code } = error as { statusCode?: unknown; code?: unknown };
  const element = (tag: string): string | undefined => new RegExp(`<${tag}>([^<\\r\\n]*)`).exec(error.message)?.[1]?.trim() || undefined;
  const status = [typeof statusCode === 'number' ? statusCode : undefined, typeof code === 'string' ? code : element('Code')]
    .filter((part) => part !== undefined)
    .join(' ');
  const detail = element('AuthenticationErrorDetail') ?? element('Message') ?? error.message;
  return status ? `${status}: ${detail}` : `${error.name}: ${detail}`;
}

/** Azurite and other local emulators answer on plain HTTP; the table client refuses that unless told. */
function isHttpEndpoint(connectionString: string): boolean {
  return /(TableEndpoint|BlobEndpoint)=http:/i.test(connectionString) || /UseDevelopmentStorage=true/i.test(connectionString);
}
