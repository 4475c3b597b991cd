// The Function App on the Flex Consumption plan (Linux, Node 22, Functions v4), running as a
// user-assigned managed identity. On Flex the runtime and its version live in
// functionAppConfig.runtime; FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are not
// accepted as app settings there, and the host version is managed by the platform.

param name string
param planName string
param location string = resourceGroup().location
param tags object = {}
@description('Name azd uses to find the app it deploys (azure.yaml services key).')
param serviceName string = 'api'

param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsConnectionString string
param serviceBusFullyQualifiedNamespace string
param reprovisionWebhookSecretUri string

param graphBaseUrl string
param ztpSuppliers string
param ztpTimeScale string
@description('The re-provisioning webhook takes requests (ZTP_REPROVISIONING_ENABLED).')
param enableReprovisioning bool = true

param maximumInstanceCount int = 40
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// V8 grows its heap well past what is live when it can (at 50,000 devices: 97 MiB in use of
// 318 reserved, 499 MiB RSS), and the instance's memory also holds the Functions host. Capping
// the old space at 3/8 of the instance (192 MiB of 512) keeps the worker inside it, at about
// twice the live heap measured (bench/README.md).
var nodeMaxOldSpaceMB = instanceMemoryMB * 3 / 8

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings are resolved with this identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // Host and product storage, through the app identity: no key exists to leak (shared-key
      // access is off on the account). The service URIs rather than the account name alone, so a
      // national cloud's endpoints are used as the account reports them.
      AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
      AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
      AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId

      // Service Bus triggers (host) and the product's sender, both through the app identity.
      ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
      ServiceBusConnection__credential: 'managedidentity'
      ServiceBusConnection__clientId: identityClientId

      // DefaultAzureCredential in the product (Service Bus, Microsoft Graph) picks the
      // user-assigned identity from this.
      AZURE_CLIENT_ID: identityClientId

      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

      GRAPH_BASE_URL: graphBaseUrl
      REPROVISION_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${reprovisionWebhookSecretUri})'
      ZTP_SUPPLIERS: ztpSuppliers
      ZTP_TIME_SCALE: ztpTimeScale
      ZTP_REPROVISIONING_ENABLED: enableReprovisioning ? 'true' : 'false'

      // The supplier upload API streams files up to ZTP_MAX_FILE_BYTES (512 MiB); the host's own
      // cap on a request body is 100 MB unless raised here.
      FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: '536870912'

      // Arguments the Functions host starts the Node.js worker with.
      languageWorkers__node__arguments: '--max-old-space-size=${nodeMaxOldSpaceMB}'
    }
  }

  // azd deploys with an Entra ID token; nothing needs publishing user names and passwords.
  resource ftpPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
output uri string = 'https://${site.properties.defaultHostName}'
