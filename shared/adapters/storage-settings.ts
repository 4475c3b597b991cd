// The settings' shape alone, with no SDK: configuration reads it, storage-access.ts connects with it.

/**
 * How the product reaches its storage account: `AzureWebJobsStorage` as a connection string, or
 * the Functions identity-based form (`AzureWebJobsStorage__accountName`, or the blob, table and
 * queue service URIs, with `__credential` and `__clientId`).
 */
export type StorageSettings =
  | { readonly connectionString: string }
  | {
      readonly blobServiceUri: string;
      readonly tableServiceUri: string;
      readonly queueServiceUri: string;
      /** `managedidentity`: the app's managed identity; absent: the default credential chain. */
      readonly credential: 'managedidentity' | undefined;
      /** A user-assigned identity's client id. */
      readonly clientId: string | undefined;
    };
