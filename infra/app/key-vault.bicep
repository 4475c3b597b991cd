// Key Vault (Azure RBAC mode) holding the app's secrets. The Function App reads them through
// Key Vault references in its app settings, resolved with its user-assigned identity.

param name string
param location string = resourceGroup().location
param tags object = {}

@secure()
@description('Shared HMAC secret of the re-provisioning webhook.')
param reprovisionWebhookSecret string

@description('Purge protection cannot be turned off again once on; keep it for production vaults.')
param enablePurgeProtection bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The API refuses an explicit false, so "off" is expressed by leaving the property out.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource reprovisionWebhookSecretEntry 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'reprovision-webhook-secret'
  properties: {
    value: reprovisionWebhookSecret
    contentType: 'text/plain'
  }
}

output name string = vault.name
output id string = vault.id
// Versionless URIs: a new secret version is picked up by the app without redeploying.
output reprovisionWebhookSecretUri string = reprovisionWebhookSecretEntry.properties.secretUri
