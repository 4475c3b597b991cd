// Event Grid system topic on the storage account: the source of the BlobCreated events that
// drive the intake function (blob trigger with source EventGrid). The subscription that
// delivers them is blob-events-subscription.bicep, deployed once the app code is running.

param name string
param location string = resourceGroup().location
param tags object = {}
param storageAccountName string
param deadLetterContainerName string

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource deadLetterContainer 'containers' existing = {
      name: deadLetterContainerName
    }
  }
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  // Dead-lettering writes with this identity, so no storage key is handed to Event Grid.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// Scoped to the dead-letter container alone: Event Grid can write nothing else.
resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobService::deadLetterContainer.id, topic.id, storageBlobDataContributor)
  scope: storage::blobService::deadLetterContainer
  properties: {
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

output name string = topic.name
