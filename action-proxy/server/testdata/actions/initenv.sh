#!/bin/bash
# Reads the init env at process start, before the first request.
some="${SOME_VAR-unset}"
another="${ANOTHER_VAR-unset}"
while read line
do
  jq -cn --arg s "$some" --arg a "$another" '{SOME_VAR: $s, ANOTHER_VAR: $a}' >&3
done
