// Grants the app identity exactly the Microsoft Graph application permissions the enabled
// features call, as app role assignments on the Microsoft Graph service principal (what admin
// consent to an application permission creates). The deployer must be allowed to grant app
// roles (Privileged Role Administrator, or Global Administrator). infra/scripts/
// grant-graph-permissions.sh does the same with az rest for a separate admin, and also takes
// back what a feature switched off no longer needs. Each permission, the calls that need it and
// Graph's page for each call: infra/README.md.

extension microsoftGraphV1

@description('Object (principal) id of the managed identity that calls Microsoft Graph.')
param principalId string

@description('The re-provisioning webhook is on: the identity also gets the Intune managed-device permissions it calls.')
param enableReprovisioning bool = true

// Supplier files to Autopilot: import hardware hashes, read and delete the imported records,
// read, re-tag and delete Autopilot device identities, sync.
var autopilotAppRoles = [
  'DeviceManagementServiceConfig.ReadWrite.All'
]

// The service desk: find, read and delete Intune managed devices (deregister); wipe and
// cleanWindowsDevice (autopilot-reset, wipe, fresh-start).
var reprovisioningAppRoles = [
  'DeviceManagementManagedDevices.ReadWrite.All'
  'DeviceManagementManagedDevices.PrivilegedOperations.All'
]

var appRoleNames = enableReprovisioning ? concat(autopilotAppRoles, reprovisioningAppRoles) : autopilotAppRoles

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
