// Everything `azd up` needs to run the zero-touch provisioning backend in Azure:
// Function App (Flex Consumption, Node 22), storage, Event Grid blob events, Service Bus,
// Key Vault, monitoring, the app identity's roles and, optionally, its Microsoft Graph
// permissions. See infra/README.md.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds a short unique token used in every resource name.')
param environmentName string

@minLength(1)
@description('Region for all resources. It must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@secure()
@minLength(16)
@description('Shared HMAC secret of the re-provisioning webhook (REPROVISION_WEBHOOK_SECRET).')
param reprovisionWebhookSecret string

@minLength(1)
@description('Supplier policy (ZTP_SUPPLIERS): [{"id", "name", "allowedGroupTags"?, "defaultGroupTag"?}].')
param ztpSuppliers array

@description('Microsoft Graph endpoint (a national cloud has its own).')
param graphBaseUrl string = 'https://graph.microsoft.com'

@description('How long Service Bus remembers a messageId for duplicate detection (ISO 8601 duration).')
param duplicateDetectionHistoryTimeWindow string = 'PT1H'

@description('The service desk\'s re-provisioning webhook (reset, wipe, fresh start, re-tag, deregister). Off: the app refuses every request (403) and the identity is granted only the Autopilot permission, none on Intune managed devices.')
param enableReprovisioning bool = true

@description('Grant the app identity its Microsoft Graph application permissions in this deployment. The deployer must be a Privileged Role Administrator; otherwise leave false and run infra/scripts/grant-graph-permissions.sh as one.')
param grantGraphPermissions bool = false

@description('Create the Event Grid subscription that feeds the intake function. Needs the app code deployed first; the postdeploy hook sets it once it has subscribed.')
param subscribeBlobEvents bool = false

@description('Where the operations alerts are e-mailed (ALERT_EMAIL); empty: the alert rules fire in Azure Monitor with no one told.')
param alertEmail string = ''

@description('Turn on Key Vault purge protection (irreversible; recommended for production).')
param keyVaultPurgeProtection bool = false

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_LRS'

@minValue(1)
@description('Flex Consumption instance ceiling. Graph throughput is bounded by the tenant-wide budget, not by instances.')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Memory of each Flex Consumption instance, in MB; the Node.js heap the app may grow to follows it (3/8 of it).')
param instanceMemoryMB int = 2048

param resourceGroupName string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var intakeContainerName = 'hash-uploads'
var resultsContainerName = 'hash-results'
var blobEventsDeadLetterContainerName = 'hash-upload-events-deadletter'
// The tables of shared/adapters/tables/table-names.ts (TABLES), the containers and storage
// queue of shared/adapters/blobs/containers.ts; the infra unit test keeps them equal.
var tableNames = [
  'devices'
  'waiting'
  'batches'
  'batchdevices'
  'ticks'
  'sweeper'
  'idempotency'
  'graphbudget'
  'health'
]
// The Functions host puts a blob on it after the blob trigger's last retry; the sweeper reads it.
var storageQueueNames = [
  'webjobs-blobtrigger-poison'
]
// The queues of shared/adapters/bus/queues.ts (QUEUES); the infra unit test keeps them equal.
var queueNames = [
  'ztp-import'
  'ztp-followup'
  'ztp-reprovision'
]

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

// The operations workbook and alert rules: their queries are the files of docs/kql/.
module workbook 'app/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    location: location
    tags: tags
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    location: location
    tags: tags
    namePrefix: 'ztp-${resourceToken}'
    alertEmail: alertEmail
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    blobEventsDeadLetterContainerName: blobEventsDeadLetterContainerName
    intakeContainerName: intakeContainerName
    resultsContainerName: resultsContainerName
    tableNames: tableNames
    queueNames: storageQueueNames
  }
}

module serviceBus 'app/service-bus.bicep' = {
  name: 'serviceBus'
  scope: rg
  params: {
    name: '${abbrs.serviceBusNamespaces}${resourceToken}'
    location: location
    tags: tags
    queueNames: queueNames
    duplicateDetectionHistoryTimeWindow: duplicateDetectionHistoryTimeWindow
  }
}

module keyVault 'app/key-vault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    reprovisionWebhookSecret: reprovisionWebhookSecret
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'functionApp'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    reprovisionWebhookSecretUri: keyVault.outputs.reprovisionWebhookSecretUri
    graphBaseUrl: graphBaseUrl
    ztpSuppliers: string(ztpSuppliers)
    // Real time in Azure: scaling waits down is for simulators and demos.
    ztpTimeScale: '1'
    enableReprovisioning: enableReprovisioning
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The app resolves its Key Vault references and pulls its package with these roles at start.
  dependsOn: [
    rbac
  ]
}

module blobEvents 'app/blob-events.bicep' = {
  name: 'blobEvents'
  scope: rg
  params: {
    name: '${abbrs.eventGridSystemTopics}${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    deadLetterContainerName: blobEventsDeadLetterContainerName
  }
}

module blobEventsSubscription 'app/blob-events-subscription.bicep' = if (subscribeBlobEvents) {
  name: 'blobEventsSubscription'
  scope: rg
  params: {
    systemTopicName: blobEvents.outputs.name
    functionAppName: functionApp.outputs.name
    intakeContainerName: intakeContainerName
    storageAccountName: storage.outputs.name
    deadLetterContainerName: blobEventsDeadLetterContainerName
  }
}

module graphPermissions 'app/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graphPermissions'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    enableReprovisioning: enableReprovisioning
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.name
output AZURE_SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
output BLOB_EVENTS_SYSTEM_TOPIC_NAME string = blobEvents.outputs.name
output BLOB_EVENTS_DEAD_LETTER_CONTAINER_NAME string = blobEventsDeadLetterContainerName
output INTAKE_CONTAINER_NAME string = intakeContainerName
output RESULTS_CONTAINER_NAME string = resultsContainerName
