#!/usr/bin/env bash
# Grants the Function App's managed identity the Microsoft Graph application permissions the
# product needs, as app role assignments on the Microsoft Graph service principal (what admin
# consent to an application permission creates). The alternative to deploying with
# grantGraphPermissions=true, for when the person running azd cannot grant app roles.
#
# Run it signed in (az login) as a Privileged Role Administrator or Global Administrator.
# Safe to run again: permissions already granted are left alone.
#
# usage: infra/scripts/grant-graph-permissions.sh [<principal object id>]
#   The principal defaults to AZURE_MANAGED_IDENTITY_PRINCIPAL_ID (environment, then azd env).
set -euo pipefail

readonly GRAPH_APP_ID='00000003-0000-0000-c000-000000000000'
readonly GRAPH='https://graph.microsoft.com/v1.0'
# The same list as infra/app/graph-permissions.bicep; the infra unit test keeps them equal.
readonly APP_ROLES=(
  'DeviceManagementServiceConfig.ReadWrite.All'
  'DeviceManagementManagedDevices.PrivilegedOperations.All'
  'DeviceManagementManagedDevices.ReadWrite.All'
)

principal_id="${1:-${AZURE_MANAGED_IDENTITY_PRINCIPAL_ID:-}}"
if [[ -z "$principal_id" ]] && command -v azd >/dev/null 2>&1; then
  principal_id="$(azd env get-value AZURE_MANAGED_IDENTITY_PRINCIPAL_ID 2>/dev/null || true)"
fi
if [[ -z "$principal_id" ]]; then
  echo "usage: $0 <principal object id of the app's managed identity>" >&2
  exit 2
fi
if ! command -v az >/dev/null 2>&1; then
  echo "the Azure CLI (az) is required, signed in with az login" >&2
  exit 1
fi

graph_sp_id="$(az rest --method GET --url "$GRAPH/servicePrincipals(appId='$GRAPH_APP_ID')?\$select=id" \
  --query id --output tsv)"
# One line per application permission: "<name><TAB><app role id>".
graph_roles="$(az rest --method GET --url "$GRAPH/servicePrincipals/$graph_sp_id?\$select=appRoles" \
  --query 'appRoles[].[value, id]' --output tsv)"
already_granted="$(az rest --method GET --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments" \
  --query "value[?resourceId=='$graph_sp_id'].appRoleId" --output tsv)"

for role in "${APP_ROLES[@]}"; do
  role_id="$(awk -F '\t' -v name="$role" '$1 == name { print $2 }' <<<"$graph_roles")"
  if [[ -z "$role_id" ]]; then
    echo "Microsoft Graph has no application permission named $role" >&2
    exit 1
  fi
  if grep -qxF "$role_id" <<<"$already_granted"; then
    echo "already granted: $role"
    continue
  fi
  az rest --method POST --url "$GRAPH/servicePrincipals/$graph_sp_id/appRoleAssignedTo" \
    --headers 'Content-Type=application/json' \
    --body "{\"principalId\":\"$principal_id\",\"resourceId\":\"$graph_sp_id\",\"appRoleId\":\"$role_id\"}" \
    --output none
  echo "granted: $role"
done
