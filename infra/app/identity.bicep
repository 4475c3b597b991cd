// The user-assigned identity the Function App runs as. Being a separate resource, it exists
// (and can be granted roles and Graph permissions) before the app, and survives recreating it.

param name string
param location string = resourceGroup().location
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
