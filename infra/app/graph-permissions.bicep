// Grants the app identity the Microsoft Graph application permissions the product needs, as
// app role assignments on the Microsoft Graph service principal (what admin consent to an
// application permission creates). The deployer must be allowed to grant app roles
// (Privileged Role Administrator, or Global Administrator). infra/scripts/
// grant-graph-permissions.sh does the same with az rest for a separate admin.

extension microsoftGraphV1

@description('Object (principal) id of the managed identity that calls Microsoft Graph.')
param principalId string

@description('Microsoft Graph application permissions, by name: import and Autopilot identities, sync, profiles; wipe, retire, clean; find and delete managed devices (deregistration).')
param appRoleNames array = [
  'DeviceManagementServiceConfig.ReadWrite.All'
  'DeviceManagementManagedDevices.PrivilegedOperations.All'
  'DeviceManagementManagedDevices.ReadWrite.All'
]

var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'

resource microsoftGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: microsoftGraphAppId
}

// Role ids are looked up by permission name on the tenant's Microsoft Graph service
// principal, so the template carries names a reviewer can read, not opaque GUIDs.
resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for roleName in appRoleNames: {
    principalId: principalId
    resourceId: microsoftGraph.id
    appRoleId: filter(microsoftGraph.appRoles, role => role.value == roleName)[0].id
  }
]

output grantedAppRoles array = appRoleNames
