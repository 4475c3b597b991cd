#!/usr/bin/env bash
# Grants the Function App's managed identity exactly the Microsoft Graph application
# permissions the enabled features call, as app role assignments on the Microsoft Graph service
# principal (what admin consent to an application permission creates). The alternative to
# deploying with grantGraphPermissions=true, for when the person running azd cannot grant app
# roles. With re-provisioning off it also takes back the re-provisioning permissions, should an
# earlier run or deployment have granted them; it never touches any other assignment.
#
# Run it signed in (az login) as a Privileged Role Administrator or Global Administrator.
# Safe to run again: permissions already granted are left alone.
#
# usage: infra/scripts/grant-graph-permissions.sh [--without-reprovisioning] [<principal object id>]
#   The principal defaults to AZURE_MANAGED_IDENTITY_PRINCIPAL_ID (environment, then azd env).
#   Re-provisioning is on unless --without-reprovisioning is given or ENABLE_REPROVISIONING is
#   false (environment, then azd env): the deployment's enableReprovisioning parameter.
set -euo pipefail

readonly GRAPH_APP_ID='00000003-0000-0000-c000-000000000000'
readonly GRAPH='https://graph.microsoft.com/v1.0'
# The same lists as infra/app/graph-permissions.bicep; the infra unit test keeps them equal.
readonly AUTOPILOT_ROLES=(
  'DeviceManagementServiceConfig.ReadWrite.All'
)
readonly REPROVISIONING_ROLES=(
  'DeviceManagementManagedDevices.ReadWrite.All'
  'DeviceManagementManagedDevices.PrivilegedOperations.All'
)

usage() {
  echo "usage: $0 [--without-reprovisioning] <principal object id of the app's managed identity>" >&2
  exit 2
}

azd_value() {
  if command -v azd >/dev/null 2>&1; then azd env get-value "$1" 2>/dev/null || true; fi
}

reprovisioning="${ENABLE_REPROVISIONING:-}"
if [[ "${1:-}" == '--without-reprovisioning' ]]; then
  reprovisioning=false
  shift
fi
[[ "${1:-}" == -* ]] && usage
principal_id="${1:-${AZURE_MANAGED_IDENTITY_PRINCIPAL_ID:-}}"
[[ -z "$principal_id" ]] && principal_id="$(azd_value AZURE_MANAGED_IDENTITY_PRINCIPAL_ID)"
[[ -z "$principal_id" ]] && usage
[[ -z "$reprovisioning" ]] && reprovisioning="$(azd_value ENABLE_REPROVISIONING)"
case "$(tr '[:upper:]' '[:lower:]' <<<"${reprovisioning:-true}")" in
  true)
    wanted=("${AUTOPILOT_ROLES[@]}" "${REPROVISIONING_ROLES[@]}")
    unwanted=()
    ;;
  false)
    wanted=("${AUTOPILOT_ROLES[@]}")
    unwanted=("${REPROVISIONING_ROLES[@]}")
    ;;
  *)
    echo "ENABLE_REPROVISIONING must be true or false, got \"$reprovisioning\"" >&2
    exit 2
    ;;
esac
if ! command -v az >/dev/null 2>&1; then
  echo "the Azure CLI (az) is required, signed in with az login" >&2
  exit 1
fi

graph_sp_id="$(az rest --method GET --url "$GRAPH/servicePrincipals(appId='$GRAPH_APP_ID')?\$select=id" \
  --query id --output tsv)"
# One line per application permission: "<name><TAB><app role id>".
graph_roles="$(az rest --method GET --url "$GRAPH/servicePrincipals/$graph_sp_id?\$select=appRoles" \
  --query 'appRoles[].[value, id]' --output tsv)"
# One line per Graph permission the identity holds: "<app role id><TAB><assignment id>".
assignments="$(az rest --method GET --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments" \
  --query "value[?resourceId=='$graph_sp_id'].[appRoleId, id]" --output tsv)"

role_id_of() { awk -F '\t' -v name="$1" '$1 == name { print $2 }' <<<"$graph_roles"; }
assignment_of() { awk -F '\t' -v role="$1" '$1 == role { print $2 }' <<<"$assignments"; }

for role in "${wanted[@]}"; do
  role_id="$(role_id_of "$role")"
  if [[ -z "$role_id" ]]; then
    echo "Microsoft Graph has no application permission named $role" >&2
    exit 1
  fi
  if [[ -n "$(assignment_of "$role_id")" ]]; then
    echo "already granted: $role"
    continue
  fi
  az rest --method POST --url "$GRAPH/servicePrincipals/$graph_sp_id/appRoleAssignedTo" \
    --headers 'Content-Type=application/json' \
    --body "{\"principalId\":\"$principal_id\",\"resourceId\":\"$graph_sp_id\",\"appRoleId\":\"$role_id\"}" \
    --output none
  echo "granted: $role"
done

for role in ${unwanted[@]+"${unwanted[@]}"}; do
  role_id="$(role_id_of "$role")"
  assignment_id="$([[ -n "$role_id" ]] && assignment_of "$role_id" || true)"
  [[ -z "$assignment_id" ]] && continue
  az rest --method DELETE --url "$GRAPH/servicePrincipals/$principal_id/appRoleAssignments/$assignment_id" --output none
  echo "revoked: $role (re-provisioning is off)"
done
