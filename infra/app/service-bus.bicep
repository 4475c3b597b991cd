// Service Bus namespace and the product's work queues. Standard tier: the product relies on
// duplicate detection (a re-sent message with the same messageId is dropped) and on
// scheduled messages (follow-ups, Retry-After), neither of which Basic offers.
// Shared access keys are disabled: only Entra ID identities with data roles get in.

param name string
param location string = resourceGroup().location
param tags object = {}
param queueNames array

@description('How long a messageId is remembered for duplicate detection (ISO 8601 duration).')
param duplicateDetectionHistoryTimeWindow string = 'PT1H'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// requiresDuplicateDetection cannot be changed on an existing queue: turning it off or on
// later means deleting and recreating the queue.
resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queueName in queueNames: {
    parent: namespace
    name: queueName
    properties: {
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: duplicateDetectionHistoryTimeWindow
      maxDeliveryCount: 10
      lockDuration: 'PT1M'
      deadLetteringOnMessageExpiration: true
      requiresSession: false
      enablePartitioning: false
    }
  }
]

output name string = namespace.name
output id string = namespace.id
// Host name only, the form ServiceBusConnection__fullyQualifiedNamespace takes; the endpoint
// reads https://<namespace>.servicebus.windows.net:443/ (a national cloud has its own suffix).
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
