#!/usr/bin/env bash
# azd postdeploy hook: connects BlobCreated events of the intake container to the deployed
# intake function. The Event Grid subscription's endpoint needs the host's blobs_extension
# system key, which exists only once the code (with its Event Grid blob trigger) runs, so
# this happens after deploy, not during provisioning. It deploys the same Bicep module that
# main.bicep includes when subscribeBlobEvents is true, then sets that flag, so later
# `azd provision` runs keep the subscription. Safe to run again.
#
# Reads the azd environment's outputs: AZURE_RESOURCE_GROUP, AZURE_FUNCTION_APP_NAME,
# AZURE_STORAGE_ACCOUNT_NAME, BLOB_EVENTS_SYSTEM_TOPIC_NAME,
# BLOB_EVENTS_DEAD_LETTER_CONTAINER_NAME, INTAKE_CONTAINER_NAME.
# KEY_WAIT_SECONDS (default 300) bounds the wait for the key, polled every KEY_POLL_SECONDS (10).
set -euo pipefail

for name in AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME AZURE_STORAGE_ACCOUNT_NAME \
  BLOB_EVENTS_SYSTEM_TOPIC_NAME BLOB_EVENTS_DEAD_LETTER_CONTAINER_NAME INTAKE_CONTAINER_NAME; do
  if [[ -z "${!name:-}" ]]; then
    echo "$name is not set: run this from azd (postdeploy hook) after azd provision" >&2
    exit 2
  fi
done
if ! command -v az >/dev/null 2>&1; then
  echo "the Azure CLI (az) is required, signed in with az login, to subscribe the intake function to blob events" >&2
  exit 1
fi

module="$(cd "$(dirname "$0")/../app" && pwd)/blob-events-subscription.bicep"
wait_seconds="${KEY_WAIT_SECONDS:-300}"
poll_seconds="${KEY_POLL_SECONDS:-10}"

# The host creates the key when it first starts with the new code; that can take a minute.
deadline=$((SECONDS + wait_seconds))
until key="$(az functionapp keys list --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
  --query systemKeys.blobs_extension --output tsv 2>/dev/null)" && [[ -n "$key" ]]; do
  if ((SECONDS >= deadline)); then
    echo "no blobs_extension key on $AZURE_FUNCTION_APP_NAME after ${wait_seconds}s: is the code deployed and the host healthy?" >&2
    echo "run this script again once it is: infra/scripts/subscribe-blob-events.sh" >&2
    exit 1
  fi
  echo "waiting for the Functions host to create its blobs_extension key..."
  sleep "$poll_seconds"
done

az deployment group create \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name blob-events-subscription \
  --template-file "$module" \
  --parameters \
    systemTopicName="$BLOB_EVENTS_SYSTEM_TOPIC_NAME" \
    functionAppName="$AZURE_FUNCTION_APP_NAME" \
    intakeContainerName="$INTAKE_CONTAINER_NAME" \
    storageAccountName="$AZURE_STORAGE_ACCOUNT_NAME" \
    deadLetterContainerName="$BLOB_EVENTS_DEAD_LETTER_CONTAINER_NAME" \
  --only-show-errors --output none

if command -v azd >/dev/null 2>&1; then
  azd env set SUBSCRIBE_BLOB_EVENTS true
fi
echo "BlobCreated events under $INTAKE_CONTAINER_NAME/ now reach the intake function."
