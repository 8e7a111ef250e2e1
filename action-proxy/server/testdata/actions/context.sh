#!/bin/bash
# Returns the activation context: api_host from the environment (the proxy
# copies __OW_* from its own), the rest from the request line.
while read line
do
  echo "$line" | jq -c --arg api_host "$__OW_API_HOST" '{
    api_host: $api_host,
    api_key: .api_key,
    namespace: .namespace,
    action_name: .action_name,
    action_version: .action_version,
    activation_id: .activation_id,
    deadline: .deadline
  }' >&3
done
