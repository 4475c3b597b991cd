// Delivers BlobCreated events under hash-uploads/ to the blob extension's webhook on the
// Function App, for the intakeHashFile function. The endpoint carries the host's
// blobs_extension system key, which exists only once the app code (with its Event Grid
// blob trigger) has started, and Event Grid validates the endpoint when the subscription is
// created. So this cannot be part of the first provisioning: the azd postdeploy hook
// (infra/scripts/subscribe-blob-events.sh) deploys this file after the code is deployed, and
// main.bicep includes it when subscribeBlobEvents is true.

param systemTopicName string
param functionAppName string
param intakeContainerName string = 'hash-uploads'
param intakeFunctionName string = 'intakeHashFile'
param storageAccountName string
param deadLetterContainerName string

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

var blobsExtensionKey = listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.blobs_extension

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'intake-hash-uploads'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${intakeFunctionName}&code=${blobsExtensionKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    // Every blob in the container reaches the function, whatever its extension: intake
    // answers a file it cannot use with a result report rather than silence.
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${intakeContainerName}/'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    // An event Event Grid gave up on (the app was down for a day) is kept as a blob for
    // operations to re-drive, instead of vanishing.
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output name string = subscription.name
